"""One filter definition for the LLM reviews API and the governance page."""
import django_filters

from autonomy.choices import LlmAppliedVerdict, LlmVerdict
from autonomy.models import LlmDecisionReview
from core.filters import IsoDateTimeFilter


class LlmReviewFilter(django_filters.FilterSet):
    client_order_id = django_filters.CharFilter(field_name="client_order_id", label="Client order id")
    strategy = django_filters.CharFilter(field_name="strategy__name", label="Strategy")
    verdict = django_filters.ChoiceFilter(choices=LlmVerdict.choices, label="Advised")
    applied_verdict = django_filters.ChoiceFilter(choices=LlmAppliedVerdict.choices, label="Applied")
    since = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label="Since")
    until = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label="Until")

    class Meta:
        model = LlmDecisionReview
        fields = ["client_order_id", "strategy", "verdict", "applied_verdict", "since", "until"]
