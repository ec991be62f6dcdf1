use flow_runtime::{node, workflow};

pub struct Input;
pub struct Finding;
pub struct Report;

#[node]
async fn lint(_i: &Input) -> Finding {
    Finding
}

#[node]
async fn audit(_i: &Input) -> Finding {
    Finding
}

#[node]
async fn report(_f: &[Finding]) -> Report {
    Report
}

pub struct First;

#[node]
async fn first(_f: &Finding, _r: &Report) -> First {
    First
}

// A consumer of one `Finding` beside the collecting one: which would it get?
#[node]
async fn both(_all: &[Finding], _one: &Finding) -> Report {
    Report
}

#[workflow(lint, audit, both)]
pub async fn one_and_all(i: Input) -> Report;

// A value both collected and taken alone.
#[workflow(lint, report, first)]
pub async fn collected_and_alone(i: Input) -> First;

// A collected producer cannot keep its output for compensation.
#[node(compensate = undo)]
async fn booked(_i: &Input) -> Finding {
    Finding
}

async fn undo(_f: &Finding) -> Result<(), std::io::Error> {
    Ok(())
}

#[workflow(lint, booked, report)]
pub async fn compensated(i: Input) -> Report;

fn main() {}
