"""Task queues, workflow ids and activity names shared by the workflow and the services."""

WORKFLOW_TASK_QUEUE = "service-requests"
INTAKE_QUEUE = "intake"
ROUTING_QUEUE = "routing"
INVOICING_QUEUE = "invoicing"
NOTIFICATIONS_QUEUE = "notifications"

PAYMENT_RUN_SCHEDULE_ID = "payment-runs"
UPLOAD_SWEEP_SCHEDULE_ID = "upload-sweep"
UPLOAD_SWEEP_WORKFLOW_ID = "upload-sweep"


# Workflow types, and what the services send a request's workflow: its updates (one per lifecycle action),
# signals and query. Renaming one breaks every running workflow and recorded history: add, never rename.
SERVICE_REQUEST_WORKFLOW = "ServiceRequestWorkflow"
PAYMENT_RUN_WORKFLOW = "PaymentRunWorkflow"
UPLOAD_SWEEP_WORKFLOW = "UploadSweepWorkflow"

PUBLISH = "publish"
ASSIGN = "assign"
APPROVE_PAYMENT = "approve_payment"
CANCEL = "cancel"
MARK_INVOICED = "mark_invoiced"
MARK_INVOICE_NOT_REQUIRED = "mark_invoice_not_required"
RECORD_CUSTOMER_PAYMENT = "record_customer_payment"
ACCEPT = "accept"
DECLINE = "decline"
SCHEDULE = "schedule"
START_WORK = "start_work"
AWAIT_PARTS = "await_parts"
RESUME = "resume"
READY_FOR_RETURN = "ready_for_return"
COMPLETE = "complete"
SUBMIT_INVOICE = "submit_invoice"
RECOMMEND = "recommend"
RESPOND = "respond"

PAYMENT_MADE = "payment_made"
NOTE_ADDED = "note_added"
STATE_QUERY = "state"


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
COLLECT_APPROVED = "invoicing.collect_approved"
ISSUE_CUSTOMER_INVOICE = "invoicing.issue_customer_invoice"
SETTLE_CUSTOMER_INVOICE = "invoicing.settle_customer_invoice"
DELIVER = "notifications.deliver"

# The activities on an action's critical path, and the service that owns each. New runs execute them as local
# activities of the workflow worker, which asks the owning service over `/internal/effects/<name>`: the action
# then answers in one workflow task instead of one per hand-off (workflows/effects.py, shared/effects.py).
EFFECTS = {
    RECORD_TRANSITION: INTAKE_QUEUE,
    ISSUE_WORK_ORDER: ROUTING_QUEUE,
    UPDATE_WORK_ORDER: ROUTING_QUEUE,
    MARK_INVOICE: INVOICING_QUEUE,
    ISSUE_CUSTOMER_INVOICE: INVOICING_QUEUE,
    SETTLE_CUSTOMER_INVOICE: INVOICING_QUEUE,
}

SEARCH_ATTRIBUTES = {
    "RequestStatus": "Keyword",
    "Priority": "Keyword",
    "CustomerId": "Keyword",
    "ProviderId": "Keyword",
    "SlaBreached": "Bool",
}
