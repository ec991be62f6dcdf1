use flow_runtime::{node, workflow};

pub struct Request;
pub struct Page;
pub struct Links;
pub struct Index;

// One type twice in one tuple: which element would a consumer of `&Page` take?
#[node]
async fn fetch_two(_req: &Request) -> (Page, Page) {
    (Page, Page)
}

#[node]
async fn read(_page: &Page) -> Index {
    Index
}

#[workflow(fetch_two, read)]
pub async fn twice(req: Request) -> Index;

// One element of a tuple cannot be collected: the list takes whole outputs.
#[node]
async fn crawl_a(_req: &Request) -> (Page, Links) {
    (Page, Links)
}

#[node]
async fn crawl_b(_req: &Request) -> Page {
    Page
}

#[node]
async fn index(_pages: &[Page], _links: &Links) -> Index {
    Index
}

#[workflow(crawl_a, crawl_b, index)]
pub async fn collected(req: Request) -> Index;

fn main() {}
