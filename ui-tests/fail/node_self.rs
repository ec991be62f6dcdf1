use flow_runtime::node;

pub struct Items;
pub struct Report;
pub struct Service;

impl Service {
    #[node]
    async fn run(&self, _items: &Items) -> Report {
        Report
    }
}

fn main() {}
