//! A minimal DPU firewall on the dpu-fw library: policy file -> compile ->
//! install -> packet loop, with connection tracking when the policy has
//! `[conntrack]`. Copy this file to start your own DPU app.
//!
//! Software dataplane (feature `dpdk`; any Linux box, as root), e.g. with two
//! af_packet interfaces:
//!
//! ```text
//! cargo run --release --features dpdk --example firewall -- examples/firewall.toml -- \
//!     -l 0 --no-huge -m 512 --no-pci --vdev=net_af_packet0,iface=eth1 \
//!     --vdev=net_af_packet1,iface=eth2 --vdev=net_af_packet2,iface=eth3
//! ```
//!
//! On a BlueField (features `dpdk,doca`, DOCA SDK installed), pass the PF and
//! its representors to the EAL (`-a 03:00.0,dv_flow_en=2,representor=...`):
//! the policy is compiled for the hardware's limits and installed into DOCA
//! Flow pipes, and this loop only sees the exception traffic the hardware
//! sends up. (The `doca` path is type-checked only; it has not run on
//! hardware, see docs/doca-versions.md.)
//!
//! Ports of the policy are DPDK ports by their `id` (probe order), or by
//! representor name. Stop with Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use doca_flow::dpdk::Eal;
use dpu_fw::compile::{Target, compile};
use dpu_fw::dataplane::{
    Dataplane, DataplaneConfig, Device, Disposition, FirewallProcessor, PortSpec,
};
use dpu_fw::install::Installed;
use dpu_fw::model::{PortId, PortRef};

fn main() -> anyhow::Result<()> {
    // Arguments: POLICY [-- EAL args].
    let mut args = std::env::args().skip(1);
    let Some(policy_path) = args.next() else {
        bail!("usage: firewall POLICY.toml -- EAL-ARGS");
    };
    let eal: Vec<String> = std::iter::once("firewall".to_string())
        .chain(args.skip_while(|a| a == "--"))
        .collect();

    // 1. The policy: parse and check it (errors name file, line and column).
    let checked = dpu_fw::config::load(&policy_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    for warning in &checked.warnings {
        eprintln!("{warning}");
    }
    let rules = checked.rules;

    // 2. Compile it: the software plan is what this loop runs on every packet it
    //    receives; on a BlueField the same policy also goes into DOCA Flow pipes
    //    compiled for the hardware's limits.
    let plan = compile(&rules, &Target::software()).context("compiling the policy")?;
    println!("{}", plan.stats());

    // 3. The ports: the policy's ports as DPDK ports.
    //    (An SF by its netdev is found in sysfs: its auxiliary device must be in
    //    the EAL arguments, `-a auxiliary:mlx5_core.sf.N,dv_flow_en=2`.)
    let ports: Vec<PortSpec> = rules
        .ports
        .iter()
        .map(|p| {
            let device = match &p.id {
                // The DOCA port id as the DPDK port id: the same number on a BlueField.
                PortRef::Doca(PortId(id)) => Device::Id(*id),
                PortRef::Representor(name) => Device::Name(name.clone()),
                PortRef::Netdev(netdev) => Device::Name(
                    dpu_fw::sf::find(std::path::Path::new("/sys"), netdev)
                        .with_context(|| format!("port {:?}", p.name))?
                        .device,
                ),
            };
            Ok(PortSpec {
                name: p.name.clone(),
                device,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // 4. Install and run. The worker runs the installed plan on the software
    //    backend for every packet it receives: all traffic on a plain Linux
    //    box; on a BlueField only what the hardware pipes miss and send up.
    let installed = Arc::new(Installed::new(&plan).context("installing the policy")?);
    let fw = dpu_fw::firewall::Firewall::new(installed, &rules, None);
    // The library's policy processor: the firewall between the dataplane's ports
    // (conntrack, then the pipes, whole bursts at once).
    let mut worker = Some(FirewallProcessor::new(fw, &ports, Instant::now())?);
    // The EAL is this program's: the dataplane and (on a BlueField) DOCA Flow both
    // run on it and keep it alive, so it shuts down after both.
    let eal = Eal::init(&eal).context("starting the DPDK EAL")?;
    let config = DataplaneConfig {
        ports,
        workers: 1,
        mbufs: 8191,
    };
    let dataplane = Dataplane::start(&eal, &config, |_| match worker.take() {
        Some(w) => Box::new(w),
        None => Box::new(|_: usize, _: &mut [u8]| Disposition::Drop),
    })?;
    // On a BlueField the same plan also goes into DOCA Flow hardware pipes,
    // once the DPDK ports are up.
    #[cfg(any(feature = "doca", feature = "doca-emu"))]
    let _hardware = {
        let hw_plan = compile(&rules, &Target::bluefield()).context("compiling for DOCA Flow")?;
        let hw = Installed::with_backend(&hw_plan, doca_flow::HwBackend::new(&eal))
            .context("installing the policy into DOCA Flow")?;
        println!(
            "{} rules installed into DOCA Flow hardware pipes ({})",
            rules.rules.len(),
            hw_plan.stats()
        );
        hw
    };

    // 5. Until Ctrl-C: print the counters every second.
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    println!("running; Ctrl-C to stop");
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(1));
        for (spec, c) in dataplane.ports().iter().zip(dataplane.counters()) {
            println!(
                "{:<10} rx {:>10}  tx {:>10}  dropped {:>10}",
                spec.name, c.rx_packets, c.tx_packets, c.policy_drops
            );
        }
    }
    dataplane.stop();
    // On the DOCA Flow contract emulator (feature `doca-emu`): teardown included, no
    // DOCA rule may have been broken.
    #[cfg(feature = "doca-emu")]
    {
        drop(_hardware);
        let broken = doca_flow::backend::emu::violations();
        anyhow::ensure!(
            broken.is_empty(),
            "the DOCA Flow emulator saw broken DOCA rules:\n{}",
            broken.join("\n")
        );
        println!("the DOCA Flow emulator saw no broken DOCA rule");
    }
    Ok(())
}
