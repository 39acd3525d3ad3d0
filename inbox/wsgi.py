import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
application = get_wsgi_application()

from inbox.serving import check_secret_key  # noqa: E402 (settings are loaded above)

check_secret_key()
