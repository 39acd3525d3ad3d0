"""The inbox list: what is waiting, sorted by deadline, with tabs, filters, pages, polling and a fixed query count."""

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from durable import serialization
from durable.models import Status, WorkflowRun
from inbox.models import INBOX_TOPIC, Request, RequestStatus

pytestmark = pytest.mark.django_db

LIST = reverse("inbox:list")


def rows(html):
    return re.findall(r'<tr class="request-row[^"]*" data-request-id="([^"]+)"', html)


def test_waiting_requests_are_sorted_by_deadline_with_countdown_and_overdue(reviewer_client, make_request):
    later = make_request(title="Later", deadline=timedelta(hours=5))
    overdue = make_request(title="Overdue", deadline=timedelta(minutes=-3))
    soon = make_request(title="Soon", deadline=timedelta(minutes=10))
    never = make_request(title="No deadline", deadline=None)
    html = reviewer_client.get(LIST).content.decode()
    assert rows(html) == [str(r.id) for r in (overdue, soon, later, never)]
    assert '<tr class="request-row overdue"' in html and "overdue by 3m" in html
    assert re.search(r"in (9m \d+s|10m 0s)", html) and "in 4h 59m" in html
    assert f'data-deadline="{soon.deadline.isoformat()}"' in html  # what inbox.js counts down from
    # Within the hour a deadline stands out; five hours away it does not.
    assert f'<tr class="request-row soon" data-request-id="{soon.id}"' in html
    assert f'<tr class="request-row " data-request-id="{later.id}"' in html


def test_the_list_sorts_by_deadline_or_by_age(reviewer_client, make_request):
    old = make_request(title="Asked first", deadline=timedelta(hours=5))
    old.created_at = timezone.now() - timedelta(hours=2)
    old.save()
    new = make_request(title="Asked last", deadline=timedelta(hours=1))
    assert rows(reviewer_client.get(LIST).content.decode()) == [str(new.id), str(old.id)]
    newest = reviewer_client.get(LIST + "?sort=newest").content.decode()
    assert rows(newest) == [str(new.id), str(old.id)] and "2\xa0hours ago" in newest
    oldest = reviewer_client.get(LIST + "?sort=oldest").content.decode()
    assert rows(oldest) == [str(old.id), str(new.id)]
    assert '<option value="oldest" selected>' in oldest
    assert "sort=oldest" in oldest  # the tabs and the live poll keep the order
    assert rows(reviewer_client.get(LIST + "?sort=bogus").content.decode()) == [str(new.id), str(old.id)]


def test_only_runs_parked_on_the_inbox_are_listed(reviewer_client, make_request):
    waiting = make_request(title="Parked")
    make_request(title="Running again", run_status=Status.ENQUEUED)
    make_request(title="Cancelled", run_status=Status.CANCELLED)
    html = reviewer_client.get(LIST).content.decode()
    assert rows(html) == [str(waiting.id)]
    assert 'id="tab-waiting" data-count="1"' in html


def test_tabs_count_and_list_decided_and_expired(reviewer_client, reviewer, make_request):
    from inbox.deciding import decide

    make_request()
    decided = make_request(title="Was decided")
    decide(decided.id, reviewer, "approve")
    make_request(title="Ran out", status=RequestStatus.EXPIRED, closed_at=timezone.now())
    html = reviewer_client.get(LIST).content.decode()
    assert 'id="tab-waiting" data-count="1"' in html
    assert 'id="tab-decided" data-count="1"' in html
    assert 'id="tab-expired" data-count="1"' in html
    decided_html = reviewer_client.get(LIST + "?tab=decided").content.decode()
    assert rows(decided_html) == [str(decided.id)] and "Approved</span>\n            by alice" in decided_html
    assert "Ran out" in reviewer_client.get(LIST + "?tab=expired").content.decode()


def test_filter_by_agent_and_assigned_to_me(reviewer_client, reviewer, make_request):
    from django.contrib.auth.models import Group

    reviewer.groups.add(Group.objects.create(name="Finance"))
    refund = make_request(agent="refund_agent")
    deploy = make_request(agent="deploy_agent")
    mine = make_request(agent="deploy_agent", assignee_kind="user", assignee_name="alice")
    ours = make_request(agent="email_agent", assignee_kind="group", assignee_name="Finance")
    make_request(agent="email_agent", assignee_kind="user", assignee_name="bob")
    by_agent = reviewer_client.get(LIST + "?agent=deploy_agent").content.decode()
    assert sorted(rows(by_agent)) == sorted([str(deploy.id), str(mine.id)])
    assert '<option value="refund_agent">Refund</option>' in by_agent
    assert 'id="tab-waiting" data-count="2"' in by_agent
    assigned = reviewer_client.get(LIST + "?mine=1").content.decode()
    assert sorted(rows(assigned)) == sorted([str(mine.id), str(ours.id)])
    assert str(refund.id) not in assigned


def test_pagination(reviewer_client, make_request):
    for i in range(30):
        make_request(title=f"R{i}", deadline=timedelta(minutes=i + 1))
    first = reviewer_client.get(LIST).content.decode()
    assert len(rows(first)) == 25 and 'id="page-next"' in first and "Page 1 of 2" in first
    second = reviewer_client.get(LIST + "?page=2").content.decode()
    assert len(rows(second)) == 5 and 'id="page-prev"' in second
    assert len(rows(reviewer_client.get(LIST + "?page=99").content.decode())) == 5  # clamps to the last page
    assert len(rows(reviewer_client.get(LIST + "?page=abc").content.decode())) == 25


def test_tab_counts_stop_at_the_cap_and_every_request_stays_reachable(reviewer_client, make_request, settings):
    settings.INBOX_COUNT_CAP = 10
    made = [make_request(title=f"R{i}", deadline=timedelta(minutes=i + 1)) for i in range(30)]
    make_request(title="Ran out", status=RequestStatus.EXPIRED, closed_at=timezone.now())
    first = reviewer_client.get(LIST).content.decode()
    assert 'id="tab-waiting" data-count="10+"' in first and '<span class="count">10+</span>' in first
    assert 'id="tab-expired" data-count="1"' in first  # under the cap: exact
    # Too many to count, so the page does not say how many pages there are, but Next walks them all.
    assert "Page 1</span>" in first and "Page 1 of" not in first
    seen, url = rows(first), re.search(r'href="([^"]+)" id="page-next"', first)
    while url:
        html = reviewer_client.get(LIST + url.group(1).replace("&amp;", "&")).content.decode()
        seen += rows(html)
        url = re.search(r'href="([^"]+)" id="page-next"', html)
    assert seen == [str(r.id) for r in made]
    # Past the end of an uncounted tab: the last page, now counted.
    past = reviewer_client.get(LIST + "?page=99").content.decode()
    assert len(rows(past)) == 5 and "Page 2 of 2" in past and 'id="page-next"' not in past


def test_the_agent_filter_offers_every_agent_that_asked_once_sorted(reviewer_client, reviewer, make_request):
    from inbox.deciding import decide

    make_request(agent="b_agent")
    make_request(agent="a_agent")
    make_request(agent="b_agent")
    decide(make_request(agent="c_agent").id, reviewer, "approve")
    html = reviewer_client.get(LIST).content.decode()
    agents = html[html.index('id="filter-agent"') : html.index("</select>")]
    assert re.findall(r'<option value="([^"]*)"', agents) == ["", "a_agent", "b_agent", "c_agent"]


def test_htmx_poll_returns_the_results_partial_that_polls_again(reviewer_client, make_request):
    req = make_request(title="New arrival")
    response = reviewer_client.get(LIST + "?tab=waiting&page=1", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="inbox-results"') and "<html" not in html
    assert 'hx-trigger="every 3s"' in html and str(req.id) in html


def bulk_waiting(n):
    """``n`` runs parked on the inbox with their requests, as ask() leaves them."""
    now = timezone.now()
    runs = [
        WorkflowRun(
            id=str(uuid.uuid4()),
            name=f"agent_{i % 3}",
            target="tests.inbox.workflows:asker",
            inputs=serialization.dumps(([], {})),
            status=Status.WAITING,
            wait_topic=INBOX_TOPIC,
            wait_until=now + timedelta(minutes=i + 1),
        )
        for i in range(n)
    ]
    WorkflowRun.objects.bulk_create(runs)
    Request.objects.bulk_create(
        Request(
            id=uuid.uuid4(),
            run_id=run.id,
            agent=run.name,
            title=f"Request {i}",
            arguments={"i": i},
            choices=["approve"],
            deadline=run.wait_until,
            assignee_kind="group" if i % 2 else "",
            assignee_name="Finance" if i % 2 else "",
        )
        for i, run in enumerate(runs)
    )


def decide_some(reviewer, n):
    from inbox.deciding import decide

    for req in Request.objects.order_by("deadline")[:n]:
        decide(req.id, reviewer, "approve")


# Session, user, user permissions, group permissions, then the inbox's three:
# tab counts (the page's count among them), page rows, agent names.
LIST_QUERIES = 7


@pytest.mark.parametrize("waiting", [10, 500])
@pytest.mark.parametrize("query", ["", "?mine=1&agent=agent_1", "?tab=decided", "?tab=expired", "?page=2"])
def test_the_list_takes_a_fixed_number_of_queries(
    reviewer_client, reviewer, django_assert_num_queries, settings, waiting, query
):
    from django.contrib.auth.models import Group

    settings.INBOX_COUNT_CAP = 100  # 500 waiting is past the cap, 10 is not
    reviewer.groups.add(Group.objects.create(name="Finance"))
    bulk_waiting(waiting)
    decide_some(reviewer, 5)
    expired = Request.objects.filter(status=RequestStatus.OPEN).order_by("-deadline")[:2]
    Request.objects.filter(id__in=[r.id for r in expired]).update(
        status=RequestStatus.EXPIRED, closed_at=timezone.now()
    )
    with django_assert_num_queries(LIST_QUERIES):
        response = reviewer_client.get(LIST + query)
    assert response.status_code == 200
    html = response.content.decode()
    # Rows were rendered: a field the list shows but does not load would have cost a query each.
    assert rows(html)
    if query in ("?tab=decided", "?tab=expired"):
        assert len(rows(html)) == {"?tab=decided": 5, "?tab=expired": 2}[query]
    if not query:
        assert len(rows(html)) == min(waiting - 7, 25)
        shown = waiting - 7 if waiting - 7 <= 100 else "100+"
        assert f'id="tab-waiting" data-count="{shown}"' in html and 'id="tab-decided" data-count="5"' in html
