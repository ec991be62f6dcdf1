use flow_runtime::node;

pub struct Items;
pub struct Report;

#[node(retries = 3)]
async fn unknown(_items: &Items) -> Report {
    Report
}

#[node(name = 3)]
async fn not_a_string(_items: &Items) -> Report {
    Report
}

#[node(name = "")]
async fn empty(_items: &Items) -> Report {
    Report
}

#[node(name = "a", name = "b")]
async fn twice(_items: &Items) -> Report {
    Report
}

#[node(= 3)]
async fn malformed(_items: &Items) -> Report {
    Report
}

fn main() {}
