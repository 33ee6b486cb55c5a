"""Nothing on a page promises what does not exist: every page reachable from the home page (as a
superuser, who sees every control) is crawled; each link must lead to a page that answers, each
in-page anchor to an element that exists, each form to a route that exists, each button must belong
to a form (or say what it does in script), and no page says "coming soon"."""
from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve

from execution.models import ReconciliationRun
from tests.access.factories import AuditEventFactory, UserFactory
from tests.execution.factories import ExecutionFactory
from tests.ledger.factories import RunFactory

pytestmark = pytest.mark.django_db

MAX_PAGES = 300
SKIP = ("/admin/", "/static/", "/accounts/logout/", "/metrics")
PROMISES = re.compile(r"coming soon|not (yet )?implemented|under construction|lorem ipsum|\bTODO\b|\bTBD\b", re.I)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.forms: list[str | None] = []
        self.dead_buttons: list[str] = []
        self._form_depth = 0
        self._text: list[str] = []
        self._skip_text = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if a.get("name") and tag == "a":
            self.ids.add(a["name"])
        if tag in ("script", "style"):
            self._skip_text += 1
        if tag == "a":
            self.links.append(a.get("href"))
        elif tag == "form":
            self._form_depth += 1
            self.forms.append(a.get("action"))
        elif tag == "button" or (tag == "input" and a.get("type") in ("submit", "button")):
            scripted = any(k.startswith(("on", "data-", "hx-", "aria-controls", "popovertarget", "form"))
                           for k in a)
            if not self._form_depth and not scripted:
                self.dead_buttons.append(self.get_starttag_text())

    def handle_endtag(self, tag):
        if tag == "form":
            self._form_depth = max(0, self._form_depth - 1)
        if tag in ("script", "style"):
            self._skip_text = max(0, self._skip_text - 1)

    def handle_data(self, data):
        if not self._skip_text:
            self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join(self._text)


def _seed():
    from autonomy.services import alert_raise

    RunFactory()
    for _ in range(3):
        ExecutionFactory()
    ExecutionFactory(execution_actual_adapter="alpaca", execution_fallback_reason="lean_submit_timeout",
                     execution_fallback_count=1)
    ReconciliationRun.objects.create(trigger="test", checked=4)
    alert_raise(dedup_key="crawl", severity="critical", title="crawl alert", evidence={"why": "test"})
    AuditEventFactory()


@pytest.mark.parametrize("who", ["superuser", "operator", "researcher"])
def test_no_page_promises_what_does_not_exist(client, who):
    """A superuser sees every control; an operator and a researcher must not be shown doors closed to them."""
    _seed()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True) if who == "superuser"
                       else UserFactory(username=who, roles=[who]))
    queue, seen, problems = deque(["/"]), {"/"}, []
    while queue and len(seen) <= MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        if response.status_code != 200:
            problems.append(f"{url}: {response.status_code}")
            continue
        if not response["Content-Type"].startswith("text/html"):
            continue
        page = _Page()
        page.feed(response.content.decode())
        if match := PROMISES.search(page.text):
            problems.append(f"{url}: says {match.group(0)!r}")
        for button in page.dead_buttons:
            problems.append(f"{url}: a button that belongs to no form: {button}")
        for action in page.forms:
            target = urlsplit(urljoin(url, action or url)).path
            try:
                resolve(target)
            except Resolver404:
                problems.append(f"{url}: a form posts to {target}, which does not exist")
        for href in page.links:
            if href is None or href.strip() == "#":  # (href="" is the page itself: a reload)
                problems.append(f"{url}: a link that goes nowhere (href={href!r})")
                continue
            absolute, fragment = urldefrag(urljoin("http://testserver" + url, href))
            parts = urlsplit(absolute)
            if parts.netloc != "testserver":
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if fragment and path == url and fragment not in page.ids:
                problems.append(f"{url}: an anchor #{fragment} with no element")
            if parts.path.startswith("/admin/") and who != "superuser":
                problems.append(f"{url}: links to the admin ({parts.path}), closed to a {who}")
            if any(parts.path.startswith(s) for s in SKIP) or parts.path.startswith("/api/"):
                if parts.path.startswith("/api/"):  # API links from pages must exist too
                    status = client.get(path, HTTP_ACCEPT="text/html").status_code
                    if status >= 400 and status != 405:
                        problems.append(f"{url}: links to {path}, which answers {status}")
                continue
            if path not in seen:
                seen.add(path)
                queue.append(path)
    assert len(seen) > 12, f"the crawl reached only {sorted(seen)}"
    assert not problems, "\n".join(problems)
