//! The runtime's spans as OpenTelemetry sees them, through `tracing-opentelemetry` and the
//! SDK's in-memory exporter: failed attempts carry the error status and message, successful
//! ones `Ok`, and numbers stay numbers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flow_runtime::{node, workflow};
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

pub struct Order(u32);
pub struct Price(u32);
pub struct Stock(u32);
pub struct Invoice(u32);

static PRICE_CALLS: AtomicU32 = AtomicU32::new(0);

#[node(retry(max_attempts = 3, initial = "1ms"))]
async fn price(order: &Order) -> Result<Price, String> {
    if PRICE_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err("price service busy".into());
    }
    Ok(Price(order.0 * 2))
}

#[node]
async fn items(order: &Order) -> Vec<u32> {
    (0..order.0).collect()
}

#[node]
async fn stock(item: &u32) -> Stock {
    Stock(*item)
}

#[node]
async fn invoice(price: &Price, stock: &[Stock]) -> Invoice {
    Invoice(price.0 + stock.iter().map(|s| s.0).sum::<u32>())
}

#[workflow(price, items, map(stock), invoice)]
pub async fn checkout(order: Order) -> Invoice;

#[node(timeout = "10ms")]
async fn slow(_o: &Order) -> Price {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Price(0)
}

#[workflow(slow)]
pub async fn stalled(order: Order) -> Price;

fn attr<'s>(span: &'s SpanData, key: &str) -> Option<&'s Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::new(key.to_owned()))
        .map(|kv| &kv.value)
}

fn spans(f: impl FnOnce()) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("flow-test")));
    tracing::subscriber::with_default(subscriber, f);
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn failed_attempts_have_the_error_status_and_message_and_numbers_stay_numbers() {
    let spans = spans(|| {
        runtime().block_on(async {
            assert_eq!(checkout(Order(3)).await.unwrap().0, 6 + 3);
        })
    });
    let prices: Vec<&SpanData> = spans.iter().filter(|s| s.name == "price").collect();
    assert_eq!(prices.len(), 2, "one span per attempt");
    let (first, second) = if attr(prices[0], "attempt") == Some(&Value::I64(1)) {
        (prices[0], prices[1])
    } else {
        (prices[1], prices[0])
    };
    assert_eq!(attr(first, "attempt"), Some(&Value::I64(1)));
    assert_eq!(attr(second, "attempt"), Some(&Value::I64(2)));
    assert_eq!(first.status, Status::error("price service busy"));
    assert_eq!(
        attr(first, "exception.message"),
        Some(&Value::from("price service busy"))
    );
    assert_eq!(attr(first, "outcome"), Some(&Value::from("failed")));
    assert_eq!(second.status, Status::Ok);
    assert_eq!(attr(second, "exception.message"), None);
    assert!(matches!(attr(second, "duration_ms"), Some(Value::F64(_))));

    let mut elements: Vec<i64> = spans
        .iter()
        .filter(|s| s.name == "stock")
        .map(|s| match attr(s, "element") {
            Some(Value::I64(i)) => *i,
            other => panic!("element as {other:?}"),
        })
        .collect();
    elements.sort();
    assert_eq!(elements, [0, 1, 2]);

    let run = spans.iter().find(|s| s.name == "checkout").unwrap();
    assert_eq!(run.status, Status::Ok);
}

#[test]
fn a_timed_out_node_and_its_failed_run_have_the_error_status() {
    let spans = spans(|| {
        runtime().block_on(async {
            assert!(stalled(Order(1)).await.is_err());
        })
    });
    let slow = spans.iter().find(|s| s.name == "slow").unwrap();
    assert_eq!(attr(slow, "outcome"), Some(&Value::from("timed_out")));
    assert!(
        matches!(&slow.status, Status::Error { description } if description.contains("timed out after 10ms")),
        "{:?}",
        slow.status
    );
    let run = spans.iter().find(|s| s.name == "stalled").unwrap();
    match &run.status {
        Status::Error { description } => assert!(description.contains("slow"), "{description}"),
        other => panic!("run status {other:?}"),
    }
    assert!(attr(run, "exception.message").is_some());
}
