//! How flow's values travel as Temporal payloads: JSON (`json/plain`), one payload per
//! value, with a small header first.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use temporalio_common::protos::temporal::api::common::v1::Payload;

const ENCODING: &str = "encoding";
const JSON: &[u8] = b"json/plain";
const NULL: &[u8] = b"binary/null";

/// A payload holding `json`.
pub(crate) fn payload(json: &str) -> Payload {
    if json.trim() == "null" {
        // What the SDK's own converter writes for `null`.
        return Payload {
            metadata: HashMap::from([(ENCODING.to_owned(), NULL.to_vec())]),
            ..Default::default()
        };
    }
    Payload {
        metadata: HashMap::from([(ENCODING.to_owned(), JSON.to_vec())]),
        data: json.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// The JSON a payload holds (`null` for an empty or `binary/null` one).
pub(crate) fn text(payload: &Payload) -> Result<String, String> {
    match payload.metadata.get(ENCODING).map(Vec::as_slice) {
        Some(NULL) | None if payload.data.is_empty() => Ok("null".to_owned()),
        Some(JSON) | None => String::from_utf8(payload.data.clone())
            .map_err(|e| format!("a payload is not UTF-8 JSON: {e}")),
        Some(other) => Err(format!(
            "a payload has encoding `{}`, not JSON",
            String::from_utf8_lossy(other)
        )),
    }
}

/// A payload holding `value` as JSON.
pub(crate) fn encode<T: Serialize>(value: &T) -> Payload {
    payload(&serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
}

/// The value a payload holds.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(payload: &Payload) -> Result<T, String> {
    serde_json::from_str(&text(payload)?).map_err(|e| e.to_string())
}

/// What comes before a node call's inputs.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct CallHeader {
    /// The workflow whose node this is.
    pub workflow: String,
    /// The run's id (the workflow id).
    pub run: String,
    /// The map element.
    pub element: Option<usize>,
    /// A compensation (its one input is the node's output).
    #[serde(default)]
    pub compensate: bool,
}

/// What a node call returns: the entry its journal would record.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct CallResult {
    /// `Completed`, `Tolerated`, ...
    pub kind: String,
    /// The entry's JSON.
    pub value: Box<serde_json::value::RawValue>,
}

/// The version of the run header's format that this version writes: 2 (runs started with
/// 1 do not continue as new and have no bound on their calls in flight).
pub(crate) const FLOW: u32 = 2;

/// What comes before a workflow's inputs.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct RunHeader {
    /// The version of this format.
    pub flow: u32,
    /// The workflow's graph as the run was started with it: each node's name and output.
    #[serde(default)]
    pub nodes: Vec<(String, Option<String>)>,
    /// What the run had read before it continued as new, in the order it read it (empty
    /// for a run's first execution).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<Read>,
}

/// One answer a run read: the call it answered and what the call returned. Field names are
/// short: a run that continues as new carries every answer it read.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct Read {
    /// The node's key.
    #[serde(rename = "k")]
    pub key: String,
    /// The map element.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub element: Option<usize>,
    /// A compensation's answer.
    #[serde(rename = "c", default, skip_serializing_if = "std::ops::Not::not")]
    pub compensate: bool,
    /// Its completion stamp.
    #[serde(rename = "s")]
    pub stamp: u32,
    /// What the call returned.
    #[serde(rename = "a")]
    pub answer: ReadAnswer,
}

/// What a call a run read returned.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) enum ReadAnswer {
    /// Completed, with the output's JSON.
    #[serde(rename = "c")]
    Completed(Box<serde_json::value::RawValue>),
    /// A tolerated failure, with the error's JSON.
    #[serde(rename = "t")]
    Tolerated(Box<serde_json::value::RawValue>),
    /// A failure, with its details (`Failure::details`).
    #[serde(rename = "f")]
    Failed(String),
}

/// The nodes of `graph` as a run's header lists them.
pub(crate) fn nodes(graph: &flow_runtime::WorkflowGraph) -> Vec<(String, Option<String>)> {
    graph
        .nodes()
        .iter()
        .map(|n| (n.name().to_owned(), n.output().map(str::to_owned)))
        .collect()
}

/// The failure detail payload's type name prefix.
pub(crate) const FAILURE_TYPE: &str = "flow.";
