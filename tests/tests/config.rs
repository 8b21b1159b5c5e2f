//! Configuration: builder > `T4DM_*` > `OTEL_*` > defaults, `.env`, and a clear error for every
//! value that cannot be used. Resolved through `from_lookup`, so no test touches the process
//! environment (except the `.env` test, which runs in a child process).

use std::time::Duration;
use t4dm_trace_runtime::{InitError, Protocol, SamplerConfig, TracingConfig, TracingConfigBuilder};
use t4dm_trace_tests::lookup;

fn resolve(pairs: &[(&str, &str)]) -> TracingConfig {
    TracingConfig::from_lookup(lookup(pairs)).expect("the configuration is valid")
}

fn resolve_with(builder: TracingConfigBuilder, pairs: &[(&str, &str)]) -> TracingConfig {
    builder
        .from_lookup(lookup(pairs))
        .expect("the configuration is valid")
}

fn error(pairs: &[(&str, &str)]) -> String {
    TracingConfig::from_lookup(lookup(pairs))
        .expect_err("the configuration is rejected")
        .to_string()
}

#[test]
fn defaults_follow_the_seed() {
    let config = resolve(&[]);
    assert!(!config.enabled(), "tracing is off unless asked for");
    assert_eq!(config.service_name(), "t4dm");
    assert!(!config.console());
    let otlp = config
        .otlp()
        .expect("OTLP is the standard default exporter");
    assert_eq!(otlp.endpoint(), "http://localhost:4317");
    assert_eq!(otlp.protocol(), Protocol::Grpc);
    assert_eq!(otlp.timeout(), Duration::from_secs(10));
    assert_eq!(config.sampler(), SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(config.batch().max_export_batch_size(), 512);
    assert_eq!(config.shutdown_timeout(), Duration::from_secs(5));
}

#[test]
fn enabled_precedence_builder_then_t4dm_then_otel() {
    assert!(resolve(&[("T4DM_OTEL_ENABLED", "true")]).enabled());
    assert!(resolve(&[("T4DM_OTEL_ENABLED", "TRUE")]).enabled());
    assert!(resolve(&[("OTEL_SDK_DISABLED", "false")]).enabled());
    assert!(!resolve(&[("OTEL_SDK_DISABLED", "true")]).enabled());
    assert!(resolve(&[("T4DM_OTEL_ENABLED", "true"), ("OTEL_SDK_DISABLED", "true")]).enabled());
    assert!(
        !resolve(&[
            ("T4DM_OTEL_ENABLED", "false"),
            ("OTEL_SDK_DISABLED", "false")
        ])
        .enabled()
    );
    let builder = TracingConfig::builder().with_enabled(false);
    assert!(!resolve_with(builder, &[("T4DM_OTEL_ENABLED", "true")]).enabled());
    assert!(
        !resolve(&[("T4DM_OTEL_ENABLED", "")]).enabled(),
        "empty counts as unset"
    );
}

#[test]
fn service_name_precedence() {
    let all = [
        ("T4DM_OTEL_SERVICE_NAME", "from-t4dm"),
        ("OTEL_SERVICE_NAME", "from-otel"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-resource,deployment.environment=test",
        ),
    ];
    let builder = TracingConfig::builder().with_service_name("from-builder");
    assert_eq!(resolve_with(builder, &all).service_name(), "from-builder");
    assert_eq!(resolve(&all).service_name(), "from-t4dm");
    assert_eq!(resolve(&all[1..]).service_name(), "from-otel");
    let config = resolve(&all[2..]);
    assert_eq!(config.service_name(), "from-resource");
    assert_eq!(
        config.resource_attributes(),
        [("deployment.environment".to_owned(), "test".to_owned())]
    );
}

#[test]
fn resource_attributes_are_percent_decoded_and_builder_values_win() {
    let builder = TracingConfig::builder()
        .with_resource_attribute("team", "memory")
        .with_service_version("1.2.3");
    let config = resolve_with(
        builder,
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=search,note=a%20b%2Cc,service.version=0.1",
        )],
    );
    assert_eq!(config.service_version(), Some("1.2.3"));
    assert_eq!(
        config.resource_attributes(),
        [
            ("note".to_owned(), "a b,c".to_owned()),
            ("team".to_owned(), "memory".to_owned())
        ]
    );
}

#[test]
fn endpoint_precedence_and_the_traces_path_for_http() {
    let config = resolve(&[
        ("T4DM_OTEL_ENDPOINT", "http://seed:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
    ]);
    assert_eq!(config.otlp().unwrap().endpoint(), "http://seed:4317");

    let otlp = |pairs: &[(&str, &str)]| resolve(pairs).otlp().cloned().unwrap();
    let traces = otlp(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "http://traces:4318/custom",
    )]);
    assert_eq!(
        traces.endpoint(),
        "http://traces:4318/custom",
        "a signal endpoint is used as given"
    );
    assert_eq!(
        traces.protocol(),
        Protocol::HttpProtobuf,
        "port 4318 means HTTP"
    );

    let generic = otlp(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]);
    assert_eq!(
        generic.endpoint(),
        "http://generic:4318/v1/traces",
        "the generic one is a base URL"
    );

    let seed_http = otlp(&[("T4DM_OTEL_ENDPOINT", "http://localhost:4318")]);
    assert_eq!(seed_http.endpoint(), "http://localhost:4318/v1/traces");
    assert_eq!(seed_http.protocol(), Protocol::HttpProtobuf);

    let path = otlp(&[("T4DM_OTEL_ENDPOINT", "https://tempo.example/v1/traces")]);
    assert_eq!(
        path.protocol(),
        Protocol::HttpProtobuf,
        "a /v1/traces path means HTTP"
    );
    assert_eq!(path.endpoint(), "https://tempo.example/v1/traces");

    let grpc = otlp(&[("T4DM_OTEL_ENDPOINT", "http://collector:4317")]);
    assert_eq!(grpc.protocol(), Protocol::Grpc);
}

#[test]
fn protocol_precedence() {
    let otlp = |pairs: &[(&str, &str)]| resolve(pairs).otlp().cloned().unwrap();
    let endpoint = ("T4DM_OTEL_ENDPOINT", "http://collector:4317");
    assert_eq!(
        otlp(&[
            endpoint,
            ("T4DM_OTEL_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        ])
        .protocol(),
        Protocol::HttpJson
    );
    assert_eq!(
        otlp(&[
            endpoint,
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        ])
        .protocol(),
        Protocol::HttpProtobuf
    );
    let builder = TracingConfig::builder().with_protocol(Protocol::Grpc);
    let config = resolve_with(builder, &[endpoint, ("T4DM_OTEL_PROTOCOL", "http/json")]);
    assert_eq!(config.otlp().unwrap().protocol(), Protocol::Grpc);
}

#[test]
fn otlp_headers_timeout_and_compression() {
    let otlp = resolve(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20abc,x-tenant=t4dm",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-scope=traces"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ])
    .otlp()
    .cloned()
    .unwrap();
    assert_eq!(
        otlp.headers(),
        [("x-scope".to_owned(), "traces".to_owned())],
        "the signal form wins"
    );
    assert_eq!(otlp.timeout(), Duration::from_millis(2500));
    assert_eq!(
        otlp.compression(),
        Some(t4dm_trace_runtime::Compression::Gzip)
    );
    let generic = resolve(&[("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc")]);
    assert_eq!(
        generic.otlp().unwrap().headers(),
        [("authorization".to_owned(), "Bearer abc".to_owned())]
    );
}

#[test]
fn console_and_exporter_selection() {
    let console = resolve(&[("T4DM_OTEL_CONSOLE", "true")]);
    assert!(console.console());
    assert!(
        console.otlp().is_none(),
        "console alone does not also try a default collector"
    );

    let both = resolve(&[
        ("T4DM_OTEL_CONSOLE", "true"),
        ("T4DM_OTEL_ENDPOINT", "http://c:4317"),
    ]);
    assert!(both.console() && both.otlp().is_some());

    let listed = resolve(&[("OTEL_TRACES_EXPORTER", "console,zipkin")]);
    assert!(listed.console());
    assert!(listed.otlp().is_none());
    assert_eq!(
        listed
            .zipkin()
            .map(t4dm_trace_runtime::ZipkinSettings::endpoint),
        Some("http://localhost:9411/api/v2/spans")
    );
    let none = resolve(&[("OTEL_TRACES_EXPORTER", "none")]);
    assert!(!none.console() && none.otlp().is_none() && none.zipkin().is_none());
}

#[test]
fn development_defaults_trace_to_the_console_unless_configured_otherwise() {
    let dev = || TracingConfig::builder().with_development_defaults();
    let config = resolve_with(dev(), &[]);
    assert!(config.enabled() && config.console() && config.otlp().is_none());

    let collector = resolve_with(dev(), &[("T4DM_OTEL_ENDPOINT", "http://collector:4317")]);
    assert!(collector.enabled() && !collector.console());
    assert_eq!(
        collector.otlp().unwrap().endpoint(),
        "http://collector:4317"
    );

    assert!(!resolve_with(dev(), &[("T4DM_OTEL_ENABLED", "false")]).enabled());
}

#[test]
fn samplers() {
    assert_eq!(
        resolve(&[
            ("T4DM_OTEL_SAMPLE_RATIO", "0.25"),
            ("OTEL_TRACES_SAMPLER", "always_off")
        ])
        .sampler(),
        SamplerConfig::ParentBasedTraceIdRatio(0.25)
    );
    assert_eq!(
        resolve(&[
            ("OTEL_TRACES_SAMPLER", "TraceIdRatio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5")
        ])
        .sampler(),
        SamplerConfig::TraceIdRatio(0.5),
        "sampler names are case-insensitive"
    );
    assert_eq!(
        resolve(&[("OTEL_TRACES_SAMPLER", "always_off")]).sampler(),
        SamplerConfig::AlwaysOff
    );
    assert_eq!(
        resolve(&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")]).sampler(),
        SamplerConfig::ParentBasedTraceIdRatio(1.0),
        "the ratio defaults to 1"
    );
}

#[test]
fn batch_settings() {
    let batch = resolve(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "256"),
        ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
    ])
    .batch();
    assert_eq!(batch.max_queue_size(), 4096);
    assert_eq!(batch.max_export_batch_size(), 256);
    assert_eq!(batch.scheduled_delay(), Duration::from_millis(250));
    assert_eq!(batch.export_timeout(), Duration::from_secs(1));
}

#[test]
fn every_unusable_value_is_an_error_naming_the_variable_and_the_value() {
    let cases: &[(&str, &str, &str)] = &[
        ("T4DM_OTEL_ENABLED", "ture", "expected `true` or `false`"),
        ("OTEL_SDK_DISABLED", "yes", "expected `true` or `false`"),
        ("T4DM_OTEL_CONSOLE", "on", "expected `true` or `false`"),
        (
            "T4DM_OTEL_ENDPOINT",
            "localhost:4317",
            "absolute `http://` or `https://` URL",
        ),
        (
            "T4DM_OTEL_ENDPOINT",
            "ftp://collector:4317",
            "absolute `http://` or `https://` URL",
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "not a url",
            "absolute `http://` or `https://` URL",
        ),
        (
            "T4DM_OTEL_PROTOCOL",
            "thrift",
            "`grpc`, `http/protobuf` or `http/json`",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http",
            "`grpc`, `http/protobuf` or `http/json`",
        ),
        ("T4DM_OTEL_SAMPLE_RATIO", "1.5", "a number from 0 to 1"),
        ("OTEL_TRACES_SAMPLER", "sometimes", "`always_on`"),
        (
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "10s",
            "a whole number of milliseconds",
        ),
        (
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "brotli",
            "`gzip` or `none`",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization",
            "`key=value` pairs",
        ),
        ("OTEL_RESOURCE_ATTRIBUTES", "team", "`key=value` pairs"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=%ZZ", "`key=value` pairs"),
        (
            "OTEL_TRACES_EXPORTER",
            "jaeger",
            "`otlp`, `zipkin`, `xray`, `console` and `none`",
        ),
        (
            "OTEL_TRACES_EXPORTER",
            "xray-daemon",
            "`otlp`, `zipkin`, `xray`, `console` and `none`",
        ),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0", "a positive integer"),
        (
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            "many",
            "a positive integer",
        ),
        (
            "OTEL_BSP_SCHEDULE_DELAY",
            "-5",
            "a whole number of milliseconds",
        ),
    ];
    for (variable, value, expected) in cases {
        let message = error(&[(variable, value)]);
        assert!(
            message.contains(&format!("`{variable}`")) && message.contains(&format!("`{value}`")),
            "{message:?} names {variable} and {value}"
        );
        assert!(message.contains(expected), "{message:?} says {expected:?}");
    }
    let message = error(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "-1"),
    ]);
    assert!(
        message.contains("`OTEL_TRACES_SAMPLER_ARG`") && message.contains("`-1`"),
        "{message}"
    );
    let message = error(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
    ]);
    assert!(
        message.contains("at most `OTEL_BSP_MAX_QUEUE_SIZE` (100)"),
        "{message}"
    );
    assert_eq!(
        error(&[("T4DM_OTEL_ENABLED", "ture")]),
        "invalid `T4DM_OTEL_ENABLED` value `ture`: expected `true` or `false`"
    );
}

#[test]
fn a_bad_builder_endpoint_is_reported_by_init() {
    let config = TracingConfig::builder()
        .with_enabled(true)
        .with_endpoint("collector:4317")
        .build();
    let error = t4dm_trace_runtime::init_tracing(config).expect_err("the endpoint is not a URL");
    assert!(matches!(error, InitError::InvalidValue { .. }));
    assert_eq!(
        error.to_string(),
        "invalid `TracingConfigBuilder::with_endpoint` value `collector:4317`: expected an \
         absolute `http://` or `https://` URL such as `http://localhost:4317`"
    );
}

/// The `.env` test runs in a child process with its own working directory; this is its body.
#[test]
#[ignore = "run by `dotenv_file_fills_in_unset_variables` in a child process"]
fn dotenv_child() {
    let config = match TracingConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            println!("error: {error}");
            return;
        }
    };
    println!(
        "enabled={} service={} console={}",
        config.enabled(),
        config.service_name(),
        config.console()
    );
}

#[test]
fn dotenv_file_fills_in_unset_variables() {
    let directory = std::env::temp_dir().join(format!("t4dm-dotenv-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::write(
        directory.join(".env"),
        "T4DM_OTEL_ENABLED=true\nT4DM_OTEL_SERVICE_NAME=from-dotenv\nT4DM_OTEL_CONSOLE=true\n",
    )
    .unwrap();
    let run = |extra: &[(&str, &str)]| {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "dotenv_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .current_dir(&directory)
            .env_remove("T4DM_OTEL_ENABLED")
            .env_remove("T4DM_OTEL_SERVICE_NAME")
            .env_remove("T4DM_OTEL_CONSOLE");
        for (key, value) in extra {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(run(&[]).contains("enabled=true service=from-dotenv console=true"));
    assert!(
        run(&[("T4DM_OTEL_SERVICE_NAME", "from-process")]).contains("service=from-process"),
        "the process environment beats .env"
    );
    std::fs::write(directory.join(".env"), "T4DM_OTEL_ENABLED\n=oops\n").unwrap();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    let output = command
        .args(["--exact", "dotenv_child", "--ignored", "--nocapture"])
        .current_dir(&directory)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("error: cannot read `.env`"),
        "a malformed .env is an error: {stdout}"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}
