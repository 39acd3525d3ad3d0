import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
application = get_asgi_application()

from inbox.serving import check_secret_key  # noqa: E402 (settings are loaded above)

check_secret_key()
