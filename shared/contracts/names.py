"""Task queues, workflow ids and activity names shared by the workflow and the services."""

WORKFLOW_TASK_QUEUE = "service-requests"
INTAKE_QUEUE = "intake"
ROUTING_QUEUE = "routing"
INVOICING_QUEUE = "invoicing"
NOTIFICATIONS_QUEUE = "notifications"

PAYMENT_RUN_SCHEDULE_ID = "payment-runs"
UPLOAD_SWEEP_SCHEDULE_ID = "upload-sweep"
UPLOAD_SWEEP_WORKFLOW_ID = "upload-sweep"


def request_workflow_id(number: str) -> str:
    return f"service-request:{number}"


def payment_run_workflow_id(run_key: str) -> str:
    return f"payment-run:{run_key}"


# Activity names: the workflow calls them by name on the owning service's task queue.
RECORD_TRANSITION = "intake.record_transition"
SWEEP_ABANDONED_UPLOADS = "intake.sweep_abandoned_uploads"
ISSUE_WORK_ORDER = "routing.issue_work_order"
UPDATE_WORK_ORDER = "routing.update_work_order"
MARK_INVOICE = "invoicing.mark_provider_invoice"
PAY_INVOICE = "invoicing.pay_provider_invoice"
COLLECT_APPROVED = "invoicing.collect_approved"
ISSUE_CUSTOMER_INVOICE = "invoicing.issue_customer_invoice"
DELIVER = "notifications.deliver"

SEARCH_ATTRIBUTES = {
    "RequestStatus": "Keyword",
    "Priority": "Keyword",
    "CustomerId": "Keyword",
    "ProviderId": "Keyword",
    "SlaBreached": "Bool",
}
SETTLE_CUSTOMER_INVOICE = "invoicing.settle_customer_invoice"
