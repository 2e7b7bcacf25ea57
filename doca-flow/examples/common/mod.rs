//! What the examples share: where their flow runs.
//!
//! By default on the software backend. Built with `--features doca-emu` (and run as
//! root, for the DPDK EAL the hardware backend runs on), through the hardware backend
//! on the DOCA Flow contract emulator: the same DOCA calls a BlueField would get, each
//! checked against DOCA's rules; the example fails if any was broken.

use doca_flow::{Flow, FlowBuilder};

/// The backend the example's flows are built on.
pub(crate) struct Backend {
    #[cfg(feature = "doca-emu")]
    eal: doca_flow::dpdk::Eal,
}

impl Backend {
    /// Builds a flow on this backend.
    pub(crate) fn build(&self, b: FlowBuilder) -> doca_flow::Result<Flow> {
        #[cfg(feature = "doca-emu")]
        return b.build_with(doca_flow::HwBackend::new(&self.eal));
        #[cfg(not(feature = "doca-emu"))]
        b.build().map(doca_flow::SwFlow::into_flow)
    }
}

/// Runs `example` on the backend, then (on the emulator) checks that no DOCA rule was
/// broken, teardown included.
pub(crate) fn run(example: fn(&Backend) -> doca_flow::Result<()>) -> doca_flow::Result<()> {
    #[cfg(feature = "doca-emu")]
    {
        let eal = doca_flow::dpdk::Eal::init_without_devices("doca-flow-example")
            .expect("the hardware backend runs on a DPDK EAL: run as root");
        println!("(on the hardware backend over the DOCA Flow contract emulator)");
        example(&Backend { eal })?;
        let broken = doca_flow::backend::emu::violations();
        assert!(
            broken.is_empty(),
            "the DOCA Flow emulator saw broken DOCA rules:\n{}",
            broken.join("\n")
        );
        println!("the DOCA Flow emulator saw no broken DOCA rule");
        Ok(())
    }
    #[cfg(not(feature = "doca-emu"))]
    example(&Backend {})
}
