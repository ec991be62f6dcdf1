use flow_runtime::{node, workflow};

pub struct Query;
pub struct Page;
pub struct Summary;

#[node]
async fn primary(_q: &Query) -> Result<Page, std::io::Error> {
    Ok(Page)
}

#[node]
async fn mirror(_q: &Query) -> Page {
    Page
}

// A member providing another type.
#[node]
async fn summary(_q: &Query) -> Summary {
    Summary
}

#[workflow(race(primary, summary))]
pub async fn mixed(q: Query) -> Page;

// Members whose output or failure is kept cannot race.
#[node(continue_on_error)]
async fn tolerant(_q: &Query) -> Result<Page, std::io::Error> {
    Ok(Page)
}

#[node]
async fn maybe(_q: &Query) -> Option<Page> {
    None
}

#[workflow(race(primary, tolerant, maybe))]
pub async fn kept(q: Query) -> Page;

// A race of one.
#[workflow(race(mirror))]
pub async fn alone(q: Query) -> Page;

// Two providers outside a race are still an error, with the ways out.
#[workflow(primary, mirror)]
pub async fn undeclared(q: Query) -> Page;

// Only nodes can race; a member with a compensation cannot.
#[node(compensate = undo)]
async fn booked(_q: &Query) -> Page {
    Page
}

async fn undo(_p: &Page) -> Result<(), std::io::Error> {
    Ok(())
}

#[workflow(race(primary, name = "fastest"))]
pub async fn options_inside(q: Query) -> Page;

#[workflow(race(primary, booked))]
pub async fn compensated(q: Query) -> Page;

// A race provides one value: it cannot be collected.
#[node]
async fn pages(_p: &[Page]) -> Summary {
    Summary
}

#[workflow(race(primary, mirror), pages)]
pub async fn collected(q: Query) -> Summary;

fn main() {}
