//! Exporting a workflow's spans to OpenTelemetry: `tracing-opentelemetry` turns the runtime's
//! `tracing` spans (one per run, one per node attempt) into OpenTelemetry spans, here printed
//! by the stdout exporter. Swap the exporter for your collector's (OTLP, Jaeger, ...).
//!
//! ```text
//! cargo run -p flow-example-otel --example otel
//! ```
//!
//! Each span is named after its workflow or node (the `otel.name` field) and carries
//! `workflow`, `run_id`, `node`, `attempt`, `element` (for a mapped node), `outcome` and
//! `duration_ms`; node spans are children of their run's span, retries included.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flow_runtime::{node, workflow};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::time::sleep;
use tracing_subscriber::layer::SubscriberExt;

pub struct Order(u32);
pub struct Checked(u32);
pub struct Price(u32);
pub struct Invoice(String);

#[node]
async fn stock(order: &Order) -> Vec<u32> {
    sleep(Duration::from_millis(20)).await;
    (1..=order.0).collect()
}

#[node]
async fn check(item: &u32) -> Checked {
    sleep(Duration::from_millis(5 * u64::from(*item))).await;
    Checked(*item)
}

static PRICE_CALLS: AtomicU32 = AtomicU32::new(0);

#[node(retry(max_attempts = 3, initial = "10ms"))]
async fn price(order: &Order) -> Result<Price, String> {
    sleep(Duration::from_millis(15)).await;
    if PRICE_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err("price service busy".into());
    }
    Ok(Price(order.0 * 42))
}

#[node]
async fn invoice(checked: &[Checked], price: &Price) -> Invoice {
    let items: u32 = checked.iter().map(|c| c.0).sum();
    Invoice(format!(
        "{} items checked (sum {items}), total {}",
        checked.len(),
        price.0
    ))
}

#[workflow(stock, map(check, concurrency = 2), price, invoice)]
pub async fn checkout(order: Order) -> Invoice;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    let tracer = provider.tracer("flow-example");
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    tracing::subscriber::set_global_default(subscriber)?;

    let invoice = checkout(Order(3)).await?;
    println!("invoice: {}", invoice.0);

    // Flush the spans still buffered.
    provider.shutdown()?;
    Ok(())
}
