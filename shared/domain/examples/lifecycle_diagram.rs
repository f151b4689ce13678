fn main() {
    print!("{}", domain::status::mermaid_state_diagram());
}
