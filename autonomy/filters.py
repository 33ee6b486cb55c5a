"""One filter definition for the alerts API and the alerts page."""
import django_filters

from autonomy.choices import AlertSeverity, AlertStatus
from autonomy.models import Alert


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    severity = django_filters.ChoiceFilter(choices=AlertSeverity.choices)

    class Meta:
        model = Alert
        fields = ["status", "severity"]
