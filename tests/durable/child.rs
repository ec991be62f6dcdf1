//! Runs one durable `shop` run, to be killed: `flow-durable-child DB RUN_ID run|resume
//! ORDER_JSON`. Prints `ok RECEIPT_JSON` or `err ERROR`.

#[path = "flows.rs"]
#[allow(dead_code)] // what only the tests read
mod flows;

use flow_runtime::RunOptions;
use flow_runtime::store::SqliteStore;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, id, mode, order] = &args[..] else {
        eprintln!("usage: flow-durable-child DB RUN_ID run|resume ORDER_JSON");
        std::process::exit(2);
    };
    let store = SqliteStore::open(db).expect("the store opens");
    let options = RunOptions::new().run_id(id.as_str()).store(&store);
    let result = match mode.as_str() {
        "resume" => flows::shop::resume(options).await,
        _ => {
            let order: flows::Order = serde_json::from_str(order).expect("an order");
            flows::shop::run(options, order).await
        }
    };
    match result {
        Ok(r) => println!("ok {}", serde_json::to_string(&r).unwrap()),
        Err(e) => println!("err {}", flows::chain(&e)),
    }
}
