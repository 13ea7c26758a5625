mod notify;
mod promtool;
mod store_ingest;
mod rules;
