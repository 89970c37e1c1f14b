//! Prints every layer's options as Markdown tables (the docs tables, and
//! the list a script checks the rustdoc pages against).

fn main() {
    for (layer, options) in resilience_schema::LAYERS {
        println!("## `{layer}`\n\n{}", resilience_schema::markdown(options));
    }
    println!(
        "## every layer\n\n{}",
        resilience_schema::markdown(resilience_schema::common::OPTIONS)
    );
}
