//! Links over netlink (rtnetlink): the bridge, a veth pair per container,
//! addresses and routes inside the container's network namespace.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::{Error, Result};

/// A netlink connection in one network namespace.
pub struct Netlink {
    handle: Handle,
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.into();
    move |e| Error::Netlink(format!("{what}: {e}"))
}

impl Netlink {
    /// The daemon's own namespace. Needs a tokio runtime.
    pub fn host() -> Result<Netlink> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::Io)?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The namespace `ns` (an open `/proc/<pid>/ns/net`): the socket is
    /// made with this thread switched into it, then the thread switches back
    /// (no await in between, so nothing else runs on it meanwhile).
    pub fn in_netns(ns: &File) -> Result<Netlink> {
        let home = File::open("/proc/thread-self/ns/net").map_err(Error::Io)?;
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::Netlink(format!("setns: {e}")))?;
        let made = rtnetlink::new_connection();
        nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("return to the daemon's network namespace");
        let (conn, handle, _) = made.map_err(Error::Io)?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    pub async fn index(&self, name: &str) -> Result<Option<u32>> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(l) => Ok(l.map(|l| l.header.index)),
            // ENODEV: no such link.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(nl(format!("look up {name}"))(e)),
        }
    }

    /// The bridge `name` with `gateway/prefix` on it, up; created when
    /// missing. Returns its index.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        prefix: u8,
        mtu: u32,
    ) -> Result<u32> {
        let idx = match self.index(name).await? {
            Some(i) => i,
            None => {
                self.handle
                    .link()
                    .add(LinkBridge::new(name).mtu(mtu).build())
                    .execute()
                    .await
                    .map_err(nl(format!("create bridge {name}")))?;
                self.index(name)
                    .await?
                    .ok_or_else(|| Error::Netlink(format!("bridge {name} vanished")))?
            }
        };
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(idx)
            .execute();
        let mut has = false;
        while let Some(a) = addrs.try_next().await.map_err(nl("list addresses"))? {
            use rtnetlink::packet_route::address::AddressAttribute;
            has |= a.attributes.iter().any(
                |x| matches!(x, AddressAttribute::Address(std::net::IpAddr::V4(v)) if *v == gateway),
            );
        }
        if !has {
            self.handle
                .address()
                .add(idx, gateway.into(), prefix)
                .execute()
                .await
                .map_err(nl(format!("address {gateway}/{prefix} on {name}")))?;
        }
        self.up(idx).await?;
        Ok(idx)
    }

    pub async fn up(&self, idx: u32) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .map_err(nl("set link up"))
    }

    /// A veth pair made in one request: `host_name` on the bridge and up,
    /// its peer created directly inside the namespace `ns` as `peer` with
    /// `mac` (no rename, no move: moving a link between namespaces waits for
    /// an RCU grace period).
    pub async fn add_veth(
        &self,
        host_name: &str,
        bridge: u32,
        mtu: u32,
        ns: &File,
        peer: &str,
        mac: [u8; 6],
    ) -> Result<()> {
        use rtnetlink::LinkMessageBuilder;
        use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
        let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .mtu(mtu)
            .address(mac.to_vec())
            .setns_by_fd(ns.as_raw_fd())
            .build();
        let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host_name.to_string())
            .mtu(mtu)
            .controller(bridge)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(nl(format!("create veth {host_name}")))
    }

    /// Inside the container: `dev` (the veth end) gets `addr/prefix`, lo
    /// and `dev` come up, the default route goes via `gateway`.
    pub async fn configure_container(
        &self,
        dev: &str,
        addr: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let idx = self
            .index(dev)
            .await?
            .ok_or_else(|| Error::Netlink(format!("{dev} is not in the container")))?;
        self.handle
            .address()
            .add(idx, addr.into(), prefix)
            .execute()
            .await
            .map_err(nl(format!("address {addr}/{prefix}")))?;
        self.up(idx).await?;
        if let Some(lo) = self.index("lo").await? {
            self.up(lo).await?;
        }
        let Some(gateway) = gateway else {
            return Ok(());
        };
        self.handle
            .route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(gateway)
                    .output_interface(idx)
                    .build(),
            )
            .execute()
            .await
            .map_err(nl(format!("default route via {gateway}")))
    }

    /// Delete a link (a veth end takes its peer along); missing is fine.
    pub async fn delete(&self, name: &str) -> Result<()> {
        if let Some(i) = self.index(name).await? {
            match self.handle.link().del(i).execute().await {
                Ok(()) => {}
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => {}
                Err(e) => return Err(nl(format!("delete {name}"))(e)),
            }
        }
        Ok(())
    }
}
