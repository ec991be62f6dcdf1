use flow_runtime::node;

pub struct Items;
pub struct Report;
pub struct NotAnError;

#[node]
async fn fallible(_items: &Items) -> Result<Report, NotAnError> {
    Ok(Report)
}

fn main() {}
