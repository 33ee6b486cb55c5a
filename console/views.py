"""The first screen: is everything all right? (refreshed live, see ``core.live``)."""
from django.contrib.auth.decorators import login_required
from django.utils import timezone

from console import selectors
from core.live import render_live


@login_required
def home(request):
    return render_live(request, "home.html", {"o": selectors.home_overview(now=timezone.now())})
