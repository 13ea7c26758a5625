//! Integration tests of `watchfire-amconfig`: the upstream conformance
//! files, routing, time intervals, error positions and `routes test`.

mod amconfig {
    pub mod config;
    pub mod conformance;
    pub mod routing;
    pub mod timeintervals;
}
