"""The one package both the workflow and the services import: enums, models, names. No I/O here;
it is passed through the workflow sandbox."""
