//! The README's Rust snippets cannot drift from the API: each ```rust block must appear, line
//! for line (indentation aside), in one of the examples, which `cargo test --all-targets` and
//! clippy compile. Edit both together.

const README: &str = include_str!("../README.md");
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/embedded.rs",
        include_str!("../examples/embedded.rs"),
    ),
    ("examples/client.rs", include_str!("../examples/client.rs")),
    (
        "examples/monitoring.rs",
        include_str!("../examples/monitoring.rs"),
    ),
];

/// The non-empty lines of `text`, trimmed.
fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The bodies of the README's ```rust blocks.
fn rust_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```rust") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(body), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_readme_rust_snippet_is_a_compiled_example() {
    let blocks = rust_blocks(README);
    assert!(
        blocks.len() >= 2,
        "the README's Rust snippets were not found"
    );
    for block in &blocks {
        let want = lines(block);
        let found = EXAMPLES.iter().any(|(_, src)| {
            let have = lines(src);
            have.windows(want.len()).any(|w| w == want.as_slice())
        });
        assert!(
            found,
            "this README snippet is in none of {:?}; update the example with it:\n{block}",
            EXAMPLES.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_check_finds_a_snippet_that_drifted() {
    let drifted = README.replace("cluster.heal().await?;", "cluster.heal_all().await?;");
    let block = rust_blocks(&drifted)
        .into_iter()
        .find(|b| b.contains("heal_all"));
    let Some(block) = block else {
        panic!("the embedded snippet no longer calls cluster.heal()");
    };
    let want = lines(&block);
    let found = EXAMPLES
        .iter()
        .any(|(_, src)| lines(src).windows(want.len()).any(|w| w == want.as_slice()));
    assert!(!found, "a changed snippet must not match the examples");
}
