use flow_runtime::node;

pub struct Items;
pub struct Report;

#[node]
fn not_async(_items: &Items) -> Report {
    Report
}

#[node]
async fn generic<T: Send>(_items: &T) -> Report {
    Report
}

#[node]
async fn pattern((a, b): &(Items, Items)) -> Report {
    let _ = (a, b);
    Report
}

#[node]
async fn by_value(items: Items) -> Report {
    let _ = items;
    Report
}

#[node]
async fn by_mut(items: &mut Items) -> Report {
    let _ = items;
    Report
}

#[node]
async fn borrowed(items: &Items) -> &Items {
    items
}

#[node]
async fn opaque(_items: &Items) -> impl Send {
    Report
}

#[node]
const unsafe fn odd(_items: &Items) -> Report {
    Report
}

fn main() {}
