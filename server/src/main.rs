//! The `tickertape` binary: [`tickertape::run`] on the feeds `--feed` names.

fn main() -> anyhow::Result<()> {
    tickertape::run()
}
