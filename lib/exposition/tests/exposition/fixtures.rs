//! Upstream fixture files: node_exporter's e2e output and Prometheus'
//! `model/textparse/testdata`. Sample counts are computed independently by
//! a naive line scan; a few samples are checked field by field.

use watchfire_exposition::{
    parse, parse_with_options, Entry, Format, MetricType, OmStrictness, ParseOptions, Parser,
    Sample,
};

fn read(rel: &str) -> Vec<u8> {
    let p = crate::data_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Independent count: non-empty lines not starting with '#'.
fn naive_sample_lines(input: &[u8]) -> usize {
    String::from_utf8_lossy(input)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// Independent count of `# TYPE` lines.
fn naive_type_lines(input: &[u8]) -> usize {
    String::from_utf8_lossy(input)
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .count()
}

fn find<'a>(samples: &'a [Sample<'a>], name: &str, labels: &[(&str, &str)]) -> &'a Sample<'a> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).as_deref() == Some(*v))
        })
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

fn count_types(input: &[u8], format: Format) -> usize {
    Parser::new(input, format)
        .filter(|e| matches!(e.as_ref().expect("parses"), Entry::Type { .. }))
        .count()
}

#[test]
fn node_exporter_e2e_output() {
    let input = read("node_exporter_e2e_output.txt");
    let samples = parse(&input, Format::PrometheusText).expect("node_exporter output parses");
    assert_eq!(samples.len(), naive_sample_lines(&input));
    assert_eq!(
        count_types(&input, Format::PrometheusText),
        naive_type_lines(&input)
    );
    assert_eq!(naive_type_lines(&input), 1228);

    let s = find(
        &samples,
        "node_cpu_seconds_total",
        &[("cpu", "0"), ("mode", "idle")],
    );
    assert_eq!(s.value, 10870.69);
    assert_eq!(s.timestamp_ms, None);
    assert_eq!(s.metric_type, MetricType::Counter);
    let s = find(&samples, "node_load1", &[]);
    assert_eq!(
        (s.value, s.line, s.metric_type),
        (0.21, 2232, MetricType::Gauge)
    );
    let s = find(
        &samples,
        "node_bcache_dirty_target_bytes",
        &[
            ("backing_device", "bdev0"),
            ("uuid", "deaddd54-c735-46d5-868e-f331c5fd7c74"),
        ],
    );
    assert_eq!(s.value, 2.189426688e10);
    let s = find(
        &samples,
        "node_hwmon_chip_names",
        &[("chip", "nct6779"), ("chip_name", "nct6779")],
    );
    assert_eq!(s.value, 1.0);
    // Zero-copy: unescaped label values borrow from the input.
    let l = s.labels.iter().next().expect("a label");
    assert!(matches!(l.value, std::borrow::Cow::Borrowed(_)));
}

#[test]
fn prometheus_alltypes_with_and_without_metadata() {
    let with = read("prometheus_textparse/alltypes.237mfs.prom.txt");
    let without = read("prometheus_textparse/alltypes.237mfs.nometa.prom.txt");
    let a = parse(&with, Format::PrometheusText).expect("parses");
    let b = parse(&without, Format::PrometheusText).expect("parses");
    assert_eq!(a.len(), naive_sample_lines(&with));
    assert_eq!(a.len(), 1857);
    assert_eq!(count_types(&with, Format::PrometheusText), 237);
    // Same samples either way (metadata only changes the family type).
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (&x.name, x.labels.raw(), x.value.to_bits()),
            (&y.name, y.labels.raw(), y.value.to_bits())
        );
        assert_eq!(y.metric_type, MetricType::Unknown);
    }
    let s = find(&a, "go_gc_pauses_seconds_bucket", &[("le", "+Inf")]);
    assert_eq!((s.value, s.metric_type), (381864.0, MetricType::Histogram));
    assert_eq!(s.label_pairs()[1], ("le".to_string(), "+Inf".to_string()));
}

#[test]
fn openmetrics_fixtures() {
    let h = read("prometheus_textparse/1histogram.om.txt");
    let samples = parse(&h, Format::OpenMetrics).expect("parses");
    assert_eq!(samples.len(), naive_sample_lines(&h));
    let s = find(
        &samples,
        "golang_manual_histogram_seconds_bucket",
        &[
            ("address", "0.0.0.0"),
            ("generation", "20"),
            ("port", "5003"),
            ("le", "+Inf"),
        ],
    );
    assert_eq!((s.value, s.metric_type), (1.0, MetricType::Histogram));

    // client_golang output: a histogram with negative buckets and a negative
    // _sum, which the OpenMetrics reference rules forbid but Prometheus takes.
    let all = read("prometheus_textparse/alltypes.5mfs.om.txt");
    let e = parse(&all, Format::OpenMetrics).expect_err("reference rules reject it");
    assert_eq!(
        (e.line, e.msg.as_str()),
        (33, "counter-like samples cannot be negative")
    );
    let compat = ParseOptions {
        om_strictness: OmStrictness::Prometheus,
        ..Default::default()
    };
    let samples = parse_with_options(&all, Format::OpenMetrics, compat).expect("parses");
    assert_eq!(samples.len(), naive_sample_lines(&all));
    let created = find(
        &samples,
        "promhttp_metric_handler_errors_created",
        &[("cause", "encoding")],
    );
    assert_eq!(created.value, 1.726839813016397e9);
    assert_eq!(created.metric_type, MetricType::Counter);
    let b = find(
        &samples,
        "rpc_durations_histogram_seconds_bucket",
        &[("le", "-0.0002899999999999998")],
    );
    assert_eq!(b.value, 3.0);
    let ex = b.exemplar.as_ref().expect("exemplar");
    assert_eq!(ex.labels.get("dummyID").as_deref(), Some("17783"));
    assert_eq!(ex.value, -0.0003825067330956884);
    assert_eq!(ex.timestamp_ms, Some(1_726_839_814_223));

    // skip_created_series drops exactly the _created samples of counters,
    // summaries and histograms.
    let opts = ParseOptions {
        skip_created_series: true,
        ..compat
    };
    let skipped = parse_with_options(&all, Format::OpenMetrics, opts).expect("parses");
    let n_created = samples
        .iter()
        .filter(|s| s.name.ends_with("_created"))
        .count();
    assert!(n_created >= 2);
    assert_eq!(skipped.len(), samples.len() - n_created);
    assert!(skipped.iter().all(|s| !s.name.ends_with("_created")));
}
