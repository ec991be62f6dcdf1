//! Compile-pass and compile-fail cases of `#[node]` and `#[workflow]`.
//! Regenerate snapshots with `TRYBUILD=overwrite cargo test -p flow-ui-tests`, then read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
