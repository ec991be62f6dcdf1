//! The error a workflow run returns.

use std::error::Error as StdError;
use std::fmt;

use crate::NodeInfo;

/// A boxed error that can cross threads: what a node's own error is stored as.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a workflow run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A node returned `Err`. The node's error is [`Error::source`](std::error::Error::source).
    NodeFailed,
}

/// The error of a workflow run: which workflow, which node, and the node's own error as
/// [`source()`](std::error::Error::source).
///
/// Runs are fail-fast: the first node error (in time) ends the run. Nodes that had not
/// started never start, and nodes still in flight are dropped.
///
/// ```
/// use flow_runtime::{node, workflow, ErrorKind};
///
/// #[derive(Debug)]
/// struct Broken;
/// impl std::fmt::Display for Broken {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("the source is down")
///     }
/// }
/// impl std::error::Error for Broken {}
///
/// #[derive(Debug)]
/// pub struct Page(String);
///
/// #[node]
/// async fn download(url: &String) -> Result<Page, Broken> {
///     Err(Broken)
/// }
///
/// #[workflow(download)]
/// async fn fetch_page(url: String) -> Page;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = fetch_page("https://example.org".into()).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NodeFailed);
/// assert_eq!(err.node_name(), Some("download"));
/// assert_eq!(err.workflow(), "fetch_page");
/// assert_eq!(err.to_string(), "node `download` of workflow `fetch_page` failed");
/// let cause = std::error::Error::source(&err).unwrap();
/// assert_eq!(cause.to_string(), "the source is down");
/// assert!(cause.downcast_ref::<Broken>().is_some());
/// # }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    workflow: &'static str,
    node: Option<&'static NodeInfo>,
    source: Option<BoxError>,
}

impl Error {
    /// A node's error, as the generated code reports it.
    #[cold]
    #[inline(never)]
    pub(crate) fn node_failed(
        workflow: &'static str,
        node: &'static NodeInfo,
        source: BoxError,
    ) -> Self {
        Error {
            inner: Box::new(Inner {
                kind: ErrorKind::NodeFailed,
                workflow,
                node: Some(node),
                source: Some(source),
            }),
        }
    }

    /// Why the run failed.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The name of the workflow whose run failed.
    pub fn workflow(&self) -> &'static str {
        self.inner.workflow
    }

    /// The node that failed, if the failure belongs to one node.
    pub fn node(&self) -> Option<&'static NodeInfo> {
        self.inner.node
    }

    /// The name of the node that failed, if the failure belongs to one node.
    pub fn node_name(&self) -> Option<&'static str> {
        self.inner.node.map(NodeInfo::name)
    }

    /// Consumes the error and returns the node's own error, if there is one.
    pub fn into_source(self) -> Option<BoxError> {
        self.inner.source
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.inner.kind, self.inner.node) {
            (ErrorKind::NodeFailed, Some(node)) => write!(
                f,
                "node `{}` of workflow `{}` failed",
                node.name(),
                self.inner.workflow
            ),
            (ErrorKind::NodeFailed, None) => {
                write!(f, "a node of workflow `{}` failed", self.inner.workflow)
            }
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("workflow", &self.inner.workflow)
            .field("node", &self.inner.node.map(NodeInfo::name))
            .field("source", &self.inner.source)
            .finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
