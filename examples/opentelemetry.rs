//! Bridging `resilience`'s metrics to OpenTelemetry: a `metrics` recorder
//! that forwards each counter and gauge to an OpenTelemetry `Meter`.
//!
//! ```text
//! cargo run --example opentelemetry --features metrics
//! ```
//!
//! This example depends on the `opentelemetry` API crate only, whose
//! global meter does nothing until a `MeterProvider` is set: in a service,
//! build an `opentelemetry_sdk::metrics::SdkMeterProvider` with the OTLP
//! exporter (`opentelemetry-otlp`) and pass it to
//! `opentelemetry::global::set_meter_provider` first. (The SDK and the
//! exporter are left out here to keep CI's build light.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

/// Forwards `metrics` counters and gauges to OpenTelemetry instruments of
/// the same name and labels.
struct OtelRecorder {
    meter: Meter,
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels()
        .map(|l| KeyValue::new(l.key().to_owned(), l.value().to_owned()))
        .collect()
}

/// An OpenTelemetry counter only adds: `resilience::metrics::publish`
/// sets absolute values, so the bridge adds the difference since the last.
struct OtelCounter {
    counter: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    last: AtomicU64,
}

impl CounterFn for OtelCounter {
    fn increment(&self, value: u64) {
        self.last.fetch_add(value, Ordering::Relaxed);
        self.counter.add(value, &self.attributes);
    }

    fn absolute(&self, value: u64) {
        let before = self.last.fetch_max(value, Ordering::Relaxed);
        if value > before {
            self.counter.add(value - before, &self.attributes);
        }
    }
}

struct OtelGauge {
    gauge: opentelemetry::metrics::Gauge<f64>,
    attributes: Vec<KeyValue>,
    value: AtomicU64,
}

impl OtelGauge {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let mut bits = self.value.load(Ordering::Relaxed);
        loop {
            let next = f(f64::from_bits(bits));
            match self.value.compare_exchange(
                bits,
                next.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return self.gauge.record(next, &self.attributes),
                Err(actual) => bits = actual,
            }
        }
    }
}

impl GaugeFn for OtelGauge {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}

impl Recorder for OtelRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(OtelCounter {
            counter: self.meter.u64_counter(key.name().to_owned()).build(),
            attributes: attributes(key),
            last: AtomicU64::new(0),
        }))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(OtelGauge {
            gauge: self.meter.f64_gauge(key.name().to_owned()).build(),
            attributes: attributes(key),
            value: AtomicU64::new(0f64.to_bits()),
        }))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        // `resilience` records no histograms.
        Histogram::noop()
    }
}

#[resilience::retry(max_attempts = 3, backoff = "fixed", base = "10ms")]
#[resilience::circuit_breaker(name = "inventory")]
async fn inventory(n: u32) -> Result<u32, resilience::Rejection> {
    Ok(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Set your SDK's MeterProvider here (see the module docs).
    let recorder = OtelRecorder {
        meter: opentelemetry::global::meter("resilience"),
    };
    metrics::set_global_recorder(recorder).expect("the first recorder of this process");
    // Push every 10 s, as OTLP exporters expect.
    let publisher = resilience::metrics::spawn_publisher(Duration::from_secs(10));

    for n in 0..3 {
        inventory(n).await.unwrap();
    }
    resilience::metrics::publish();
    println!(
        "published {} instances to OpenTelemetry",
        resilience::registry::instances().len()
    );
    publisher.abort();
}
