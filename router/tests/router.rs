mod notify;
mod promtool;
mod rules;
mod store_ingest;
