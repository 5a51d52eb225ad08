"""Engine API conformance through docker-py (the Python SDK behind
docker-compose 1.29): each check drives one behaviour and returns a
comparable value. Run against berthd and dockerd; the Rust test compares.

usage: conformance.py DOCKER_HOST SUBNET_PREFIX  (e.g. 10.210.7)
prints one JSON object: {check: value | {"error": text}}
"""

import io
import json
import socket
import sys
import tarfile
import time

import docker
from docker.errors import APIError, ImageLoadError, NotFound
from docker.types import EndpointConfig, IPAMConfig, IPAMPool, Mount

HOST, PREFIX = sys.argv[1], sys.argv[2]
client = docker.DockerClient(base_url=HOST, version="1.41", timeout=60)
api = client.api
P = "berth-test-sdk-"
made = {"containers": [], "networks": []}


def run(cmd, **kw):
    c = client.containers.run("busybox", cmd, detach=True, **kw)
    made["containers"].append(c.id)
    return c


def create(cmd, **kw):
    c = client.containers.create("busybox", cmd, **kw)
    made["containers"].append(c.id)
    return c


def net(name, **kw):
    n = client.networks.create(name, **kw)
    made["networks"].append(n.id)
    return n


def status_of(f):
    try:
        f()
        return "ok"
    except APIError as e:
        return e.status_code


def check_log_config_and_runtime():
    c = client.containers.run("busybox", "echo hi", detach=True, name=P + "logcfg")
    made["containers"].append(c.id)
    c.wait()
    hc = api.inspect_container(c.id)["HostConfig"]
    # containers.run(...) without detach reads LogConfig.Type (KeyError before).
    out = client.containers.run("busybox", "echo hi", remove=True)
    return {"LogConfig": hc["LogConfig"], "Runtime": bool(hc.get("Runtime")), "run": out.decode()}


def check_unknown_log_driver():
    try:
        create("true", log_config={"Type": "asdf", "Config": {}})
        return "accepted"
    except APIError as e:
        return {"status": e.status_code, "names_driver": "asdf" in str(e.explanation)}


def check_group_add():
    c = run("id -G", group_add=["123", "nobody", "65000"])
    c.wait()
    return sorted(c.logs().decode().split())


def check_bind_mounts():
    c = create(
        "true",
        volumes={"/tmp": {"bind": "/c", "mode": "ro"}, "/var/tmp": {"bind": "/d", "mode": "rw"}},
        mounts=[Mount(target="/e", source="/tmp", type="bind", read_only=True)],
    )
    ms = api.inspect_container(c.id)["Mounts"]
    keys = ["Type", "Source", "Destination", "Mode", "RW", "Propagation"]
    return sorted([{k: m.get(k) for k in keys} for m in ms], key=lambda m: m["Destination"])


def check_config_volumes_path_exists():
    c = run("sleep 30", volumes=["/vol1"])
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as t:
        info = tarfile.TarInfo("f")
        info.size = 2
        t.addfile(info, io.BytesIO(b"ok"))
    ok = c.put_archive("/vol1", data.getvalue())
    code, out = c.exec_run("cat /vol1/f")
    c.kill()
    return {"put": ok, "cat": out.decode(), "code": code}


def check_unknown_network_in_networking_config():
    try:
        api.create_container(
            "busybox",
            "true",
            networking_config=api.create_networking_config({P + "nosuchnet": api.create_endpoint_config()}),
        )
        return "accepted"
    except APIError as e:
        return {"status": e.status_code, "not_found": "not found" in str(e.explanation)}


def check_endpoint_settings_reported():
    n = net(P + "eps", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=PREFIX + ".0/26")]))
    target = run("sleep 30", name=P + "eptarget", network=n.name)
    cfg = api.create_networking_config(
        {n.name: api.create_endpoint_config(links=[(P + "eptarget", "t")], driver_opt={"k": "v"}, mac_address="02:42:ac:11:00:77")}
    )
    c = api.create_container("busybox", "sleep 30", networking_config=cfg, host_config=api.create_host_config(network_mode=n.name))
    made["containers"].append(c["Id"])
    ep = api.inspect_container(c["Id"])["NetworkSettings"]["Networks"][n.name]
    target.kill()
    return {"DriverOpts": ep.get("DriverOpts"), "Links": ep.get("Links"), "MacAddress": ep.get("MacAddress")}


def check_network_names_and_ipam():
    out = {}
    out["space_name"] = status_of(lambda: net(P + "test 01"))
    n = net(
        P + "v6",
        enable_ipv6=True,
        ipam=IPAMConfig(
            pool_configs=[
                IPAMPool(subnet=PREFIX + ".128/25", aux_addresses={"router": PREFIX + ".130"}),
                IPAMPool(subnet="2001:db8:99::/64"),
            ]
        ),
    )
    cfgs = api.inspect_network(n.id)["IPAM"]["Config"]
    out["subnets"] = sorted(c["Subnet"].replace(PREFIX, "P") for c in cfgs)
    out["aux"] = [{k: v.replace(PREFIX, "P") for k, v in c["AuxiliaryAddresses"].items()} for c in cfgs if c.get("AuxiliaryAddresses")]
    out["EnableIPv6"] = api.inspect_network(n.id)["EnableIPv6"]
    return out


def check_remove_link():
    a = run("sleep 30", name=P + "linka")
    b = run("sleep 30", name=P + "linkb", links={P + "linka": "alias"})
    before = api.inspect_container(b.id)["HostConfig"]["Links"]
    api.remove_container("/" + P + "linkb/alias", link=True)
    after = api.inspect_container(b.id)["HostConfig"]["Links"]
    a.kill()
    b.kill()
    return {"before": len(before or []), "after": after}


def check_swarm_off():
    out = {}
    for name, f in [
        ("leave", lambda: api.leave_swarm()),
        ("leave_force", lambda: api.leave_swarm(force=True)),
        ("inspect", lambda: api.inspect_swarm()),
        ("services", lambda: api.services()),
        ("nodes", lambda: api.nodes()),
        ("secrets", lambda: api.secrets()),
        ("configs", lambda: api.configs()),
    ]:
        out[name] = status_of(f)
    out["plugins"] = api.plugins()
    return out


def check_kill_waits():
    c = run("sleep 100")
    api.kill(c.id)
    s = api.inspect_container(c.id)["State"]
    rm = status_of(lambda: api.remove_container(c.id))
    return {"Status": s["Status"], "ExitCode": s["ExitCode"], "rm": rm}


def check_commit_just_exited():
    c = run("sh -c 'echo x > /f'")
    img = api.commit(c.id, repository=P.rstrip("-") + "-commit", tag="t")
    ok = bool(img.get("Id"))
    c.wait()
    api.remove_image(P.rstrip("-") + "-commit:t", force=True)
    return ok


def attach_and_detach(tty):
    c = run("sleep 100", stdin_open=True, tty=tty)
    s = api.attach_socket(c.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "detachKeys": "ctrl-x"})
    raw = s._sock
    raw.settimeout(3)
    raw.sendall(b"\x18")
    ended = False
    try:
        while True:
            d = raw.recv(4096)
            if not d:
                ended = True
                break
    except socket.timeout:
        ended = False
    running = api.inspect_container(c.id)["State"]["Running"]
    c.kill()
    return {"ended": ended, "still_running": running}


def check_attach_detach_keys():
    # Docker watches for the sequence on a tty only (moby's stream/attach.go).
    return {"tty": attach_and_detach(True), "no_tty": attach_and_detach(False)}


def check_attach_logs_not_stream():
    c = run("sh -c 'echo one; echo two; sleep 100'")
    for _ in range(400):
        if b"two" in c.logs():
            break
        time.sleep(0.05)
    # Under load a daemon may still be writing the log: ask a few times.
    for _ in range(10):
        out = api.attach(c.id, stream=False, logs=True, stdout=True, stderr=True)
        if b"two" in out:
            break
        time.sleep(0.2)
    c.kill()
    return out.decode()


def check_exec_tty_framing():
    c = run("sleep 100")
    e = api.exec_create(c.id, "echo hello", tty=True)
    out = api.exec_start(e["Id"], tty=False)
    t0 = time.time()
    # A detached start answers before the process ends (5 s): a margin wide
    # enough for a daemon on a loaded machine.
    e2 = api.exec_create(c.id, "sh -c 'echo loud; sleep 5; echo louder'")
    detached = api.exec_start(e2["Id"], detach=True)
    quick = time.time() - t0 < 4
    c.kill()
    return {"framed": out.decode().replace("\r", ""), "detach_answer": detached.decode() if detached else "", "detach_quick": quick}


def check_stats_networks():
    n = net(P + "stats", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=PREFIX + ".64/26")]))
    c = run("sleep 100", network=n.name)
    st = c.stats(stream=False)
    nets = st.get("networks") or {}
    c.kill()
    keys = sorted(next(iter(nets.values())).keys()) if nets else []
    return {"interfaces": sorted(nets.keys()), "keys": keys}


def check_image_get_by_name():
    data = b"".join(client.images.get("busybox").save())
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return "manifest.json" in t.getnames()


def check_load_bad_tar():
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        t.addfile(info, io.BytesIO(b"hello"))
    try:
        client.images.load(data.getvalue())
        return "loaded"
    except ImageLoadError:
        return "ImageLoadError"
    except APIError as e:
        return {"status": e.status_code}


def check_prune_reclaims_space():
    c = run("dd if=/dev/zero of=/big bs=1024 count=2048")
    c.wait()
    r = api.prune_containers()
    return {"deleted": c.id in (r.get("ContainersDeleted") or []), "reclaimed_over_1MiB": (r.get("SpaceReclaimed") or 0) > (1 << 20)}


CHECKS = [n for n in dir() if n.startswith("check_")]


def cleanup():
    for cid in made["containers"]:
        try:
            api.remove_container(cid, force=True)
        except (NotFound, APIError):
            pass
    for nid in made["networks"]:
        try:
            api.remove_network(nid)
        except (NotFound, APIError):
            pass


result = {}
try:
    for name in CHECKS:
        try:
            result[name[len("check_"):]] = globals()[name]()
        except Exception as e:  # a check's failure is its result
            result[name[len("check_"):]] = {"error": f"{type(e).__name__}: {e}"}
finally:
    cleanup()
print(json.dumps(result, sort_keys=True))
