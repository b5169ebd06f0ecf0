"""Search attributes operators filter on in the Temporal UI (registered by `make run`)."""

from temporalio.common import SearchAttributeKey

STATUS_KEY = SearchAttributeKey.for_keyword("RequestStatus")
PRIORITY_KEY = SearchAttributeKey.for_keyword("Priority")
CUSTOMER_KEY = SearchAttributeKey.for_keyword("CustomerId")
PROVIDER_KEY = SearchAttributeKey.for_keyword("ProviderId")
SLA_KEY = SearchAttributeKey.for_bool("SlaBreached")
