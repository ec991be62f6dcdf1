//! Nested workflows: a workflow is listed as a node of another, typed by its inputs and
//! output like any node. Here a per-region report (itself a fan-out of three fetches) runs
//! for every region in parallel, inside a company report that also fans out.
//!
//! ```text
//! cargo run --example nested
//! ```

use std::time::{Duration, Instant};

use flow_runtime::{node, workflow};

pub struct Region(pub &'static str);
pub struct Sales(pub u32);
pub struct Costs(pub u32);
pub struct Staff(pub u32);
#[derive(Debug, Clone)]
pub struct RegionReport {
    pub region: &'static str,
    pub profit: i64,
    pub staff: u32,
}

async fn fetch(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[node]
async fn sales(r: &Region) -> Sales {
    fetch(40).await;
    Sales(r.0.len() as u32 * 100)
}
#[node]
async fn costs(r: &Region) -> Costs {
    fetch(30).await;
    Costs(r.0.len() as u32 * 60)
}
#[node]
async fn staff(r: &Region) -> Staff {
    fetch(20).await;
    Staff(r.0.len() as u32 * 3)
}
#[node]
async fn region_report(r: &Region, s: &Sales, c: &Costs, st: &Staff) -> RegionReport {
    RegionReport {
        region: r.0,
        profit: s.0 as i64 - c.0 as i64,
        staff: st.0,
    }
}

/// One region: three fetches at once, then a join.
#[workflow(sales, costs, staff, region_report)]
pub async fn region(r: Region) -> RegionReport;

pub struct Company(pub Vec<&'static str>);
pub struct Outlook(pub &'static str);
#[derive(Debug)]
pub struct CompanyReport {
    pub regions: Vec<RegionReport>,
    pub outlook: &'static str,
}

#[node]
async fn regions(c: &Company) -> Vec<Region> {
    c.0.iter().map(|&r| Region(r)).collect()
}
#[node]
async fn outlook(_c: &Company) -> Outlook {
    fetch(35).await;
    Outlook("steady")
}
#[node]
async fn company_report(regions: &[RegionReport], o: &Outlook) -> CompanyReport {
    CompanyReport {
        regions: regions.to_vec(),
        outlook: o.0,
    }
}

/// Every region's workflow mapped over the regions, beside the outlook.
#[workflow(regions, map(region), outlook, company_report)]
pub async fn company(c: Company) -> CompanyReport;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), flow_runtime::Error> {
    let start = Instant::now();
    let report = company(Company(vec!["north", "south", "east", "west", "central"])).await?;
    for r in &report.regions {
        println!("{:>8}: profit {:>4}, staff {}", r.region, r.profit, r.staff);
    }
    println!("outlook {}", report.outlook);
    // Five regions × three fetches, each region's slowest fetch 40 ms: all at once.
    println!(
        "done in {} ms (one region alone takes 40 ms)",
        start.elapsed().as_millis()
    );
    Ok(())
}
