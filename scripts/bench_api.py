"""What the benchmark scripts share (scripts/bench-records, scripts/bench-backup): HTTPS calls
that trust the server's own certificate, TOTP codes, the tenant -> owner -> role -> collection
-> regular user setup through the API, and concurrent seeding. Standard library only.

As a module: `import bench_api` (the scripts put this directory on `sys.path`). As a command:

  python3 bench_api.py setup-strongroom BASE CACERT BOOTSTRAP OWNER_EMAIL OWNER_PW USER_EMAIL USER_PW [FIELDS_JSON]
  python3 bench_api.py seed BASE CACERT PATH AUTH BODY N WORKERS [PROCESSES [PROGRESS_SECS]]
  python3 bench_api.py steady BASE CACERT PATH AUTH BODY SECONDS WORKERS RATE
"""
import base64, hashlib, hmac, http.client, json, multiprocessing, ssl, struct, sys, threading, time, urllib.parse

# The collection `items` of scripts/bench-records: title, n and a JSON document.
ITEMS_FIELDS = [
    {"name": "title", "type": "text", "max_length": 500},
    {"name": "n", "type": "number"},
    {"name": "data", "type": "json"},
]


def conn_for(base, cacert):
    """A factory of connections to `base`; HTTPS trusts only `cacert` (the server's own)."""
    u = urllib.parse.urlsplit(base)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=cacert)
        return lambda: http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
    return lambda: http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def call(conn, method, path, body=None, auth=None, expect=(200, 201)):
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    text = r.read()
    if r.status not in expect:
        sys.exit(f"setup: {method} {path} answered {r.status}: {text[:500]!r}")
    return json.loads(text) if text else {}


def totp(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def setup_strongroom(base, cacert, bootstrap, owner_email, owner_pw, user_email, user_pw, fields=None):
    """Tenant -> owner (enrols TOTP) -> custom role (owner-only read + create on items) ->
    collection items (`fields`, default ITEMS_FIELDS) -> regular user with that role -> the
    user's login. Prints `TENANT USER SESSION`."""
    c = conn_for(base, cacert)()
    boot = "Bearer " + bootstrap
    t = call(c, "POST", "/api/v1/admin/tenants", {"name": "Bench"}, boot)["id"]
    inv = call(c, "POST", f"/api/v1/admin/tenants/{t}/invitations", {"email": owner_email}, boot)["token"]
    call(c, "POST", "/api/v1/invitations/accept", {"token": inv, "password": owner_pw})
    login = {"tenant": t, "email": owner_email, "password": owner_pw}
    r = call(c, "POST", "/api/v1/auth/login", login)
    assert r["status"] == "mfa_enrollment_required", r["status"]
    restricted = "Bearer " + r["token"]
    secret = call(c, "POST", "/api/v1/me/mfa/totp", {"password": owner_pw}, restricted)["secret"]
    step = int(time.time()) // 30
    call(c, "POST", "/api/v1/me/mfa/totp/confirm", {"code": totp(secret, step)}, restricted)
    r = call(c, "POST", "/api/v1/auth/login", login)
    assert r["status"] == "mfa_required", r["status"]
    owner = "Bearer " + call(c, "POST", "/api/v1/auth/mfa",
                             {"challenge": r["challenge"], "code": totp(secret, step + 1)})["token"]
    role = call(c, "POST", f"/api/v1/tenants/{t}/roles",
                {"name": "item owner", "collections": {"items": {"read": True, "create": True, "owner_only": True}}},
                owner)["id"]
    call(c, "POST", f"/api/v1/tenants/{t}/collections",
         {"name": "items", "schema": {"fields": fields or ITEMS_FIELDS}}, owner)
    inv = call(c, "POST", f"/api/v1/tenants/{t}/invitations", {"email": user_email, "role": role}, owner)["token"]
    call(c, "POST", "/api/v1/invitations/accept", {"token": inv, "password": user_pw})
    r = call(c, "POST", "/api/v1/auth/login", {"tenant": t, "email": user_email, "password": user_pw})
    assert r["status"] == "ok", r["status"]
    me = call(c, "GET", "/api/v1/me", None, "Bearer " + r["token"])
    user = me.get("id") or me.get("user", {}).get("id")
    print(t, user, r["token"])


def setup_owner(base, cacert, bootstrap, owner_email, owner_pw, fields=None):
    """Tenant -> owner (enrols TOTP, logs in with it) -> collection items (`fields`, default
    ITEMS_FIELDS). Prints `TENANT OWNER_SESSION` (scripts/bench-export: an owner both seeds and
    exports)."""
    c = conn_for(base, cacert)()
    boot = "Bearer " + bootstrap
    t = call(c, "POST", "/api/v1/admin/tenants", {"name": "Bench"}, boot)["id"]
    inv = call(c, "POST", f"/api/v1/admin/tenants/{t}/invitations", {"email": owner_email}, boot)["token"]
    call(c, "POST", "/api/v1/invitations/accept", {"token": inv, "password": owner_pw})
    login = {"tenant": t, "email": owner_email, "password": owner_pw}
    r = call(c, "POST", "/api/v1/auth/login", login)
    restricted = "Bearer " + r["token"]
    secret = call(c, "POST", "/api/v1/me/mfa/totp", {"password": owner_pw}, restricted)["secret"]
    step = int(time.time()) // 30
    call(c, "POST", "/api/v1/me/mfa/totp/confirm", {"code": totp(secret, step)}, restricted)
    r = call(c, "POST", "/api/v1/auth/login", login)
    owner = call(c, "POST", "/api/v1/auth/mfa",
                 {"challenge": r["challenge"], "code": totp(secret, step + 1)})["token"]
    call(c, "POST", f"/api/v1/tenants/{t}/collections",
         {"name": "items", "schema": {"fields": fields or ITEMS_FIELDS}}, "Bearer " + owner)
    print(t, owner)


def _post_loop(new, path, auth, data, take, first, errors, done=None):
    """One worker: POSTs `data` on a keep-alive connection while `take()` grants another
    request; notes the first id, the first error, and counts into `done[0]`."""
    c = new()
    headers = {"Content-Type": "application/json", "Authorization": auth}
    while take():
        try:
            c.request("POST", path, body=data, headers=headers)
            r = c.getresponse()
            text = r.read()
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
            return
        if r.status not in (200, 201):
            errors.append(f"{r.status}: {text[:300]!r}")
            return
        if done is not None:
            done[0] += 1
        if not first:
            first.append(json.loads(text)["id"])


def _seed_share(base, cacert, path, auth, body_text, n, workers, counts=None, slot=0):
    """`n` POSTs over `workers` threads. Returns (first id or None, first error or None)."""
    new = conn_for(base, cacert)
    counter, lock, first, errors, done = [0], threading.Lock(), [], [], [0]

    def take():
        with lock:
            if counter[0] >= n or errors:
                return False
            counter[0] += 1
            if counts is not None and counter[0] % 256 == 0:
                counts[slot] = counter[0]
            return True

    threads = [threading.Thread(target=_post_loop, args=(new, path, auth, body_text.encode(), take, first, errors))
               for _ in range(workers)]
    for t in threads: t.start()
    for t in threads: t.join()
    if counts is not None:
        counts[slot] = counter[0]
    return (first[0] if first else None), (errors[0] if errors else None)


def _seed_child(args, counts, slot, out):
    out.send(_seed_share(*args, counts=counts, slot=slot))
    out.close()


def seed(base, cacert, path, auth, body_text, n, workers, processes=1, progress=0):
    """POSTs `body_text` n times with `workers` keep-alive connections in each of `processes`
    processes (one process: threads only; several: the client's own CPU is spread over the
    cores). Every `progress` seconds (0: never) writes the count so far to stderr. Prints
    `SECONDS FIRST_ID`."""
    t0 = time.monotonic()
    if processes <= 1 and not progress:
        first, error = _seed_share(base, cacert, path, auth, body_text, n, workers)
    else:
        ctx = multiprocessing.get_context("fork")
        counts = ctx.Array("q", processes, lock=False)
        shares = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
        children = []
        for i, share in enumerate(shares):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_seed_child,
                            args=((base, cacert, path, auth, body_text, share, workers), counts, i, send))
            p.start()
            children.append((p, recv))
        last = t0
        while any(p.is_alive() for p, _ in children):
            time.sleep(0.5)
            if progress and time.monotonic() - last >= progress:
                last, done = time.monotonic(), sum(counts)
                sys.stderr.write(f"seed: {done} of {n} in {last - t0:.0f} s ({done / (last - t0):.0f}/s)\n")
                sys.stderr.flush()
        results = []
        for p, recv in children:
            results.append(recv.recv() if recv.poll() else (None, f"seeding process exited with {p.exitcode}"))
            p.join()
        first = next((f for f, _ in results if f), None)
        error = next((e for _, e in results if e), None)
    if error:
        sys.exit(f"seed: {error}")
    print(f"{time.monotonic() - t0:.1f} {first}")


def steady(base, cacert, path, auth, body_text, seconds, workers, rate):
    """A steady write load: `workers` threads POST `body_text` at `rate` requests/s in all
    (0: as fast as they can) for `seconds`. Prints `REQUESTS SECONDS` at the end."""
    new = conn_for(base, cacert)
    lock, first, errors, done, issued = threading.Lock(), [], [], [0], [0]
    t0 = time.monotonic()
    end = t0 + seconds

    def take():
        with lock:
            if errors:
                return False
            now = time.monotonic()
            if now >= end:
                return False
            if rate:
                due = t0 + issued[0] / rate
                issued[0] += 1
                if due > now:
                    time.sleep(min(due, end) - now)  # under the lock: the workers queue up behind it
                    return time.monotonic() < end
            return True

    threads = [threading.Thread(target=_post_loop, args=(new, path, auth, body_text.encode(), take, first, errors, done))
               for _ in range(workers)]
    for t in threads: t.start()
    for t in threads: t.join()
    if errors:
        sys.exit(f"steady: {errors[0]}")
    print(done[0], f"{time.monotonic() - t0:.1f}")


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "setup-strongroom":
        fields = json.loads(args[7]) if len(args) > 7 else None
        setup_strongroom(*args[:7], fields=fields)
    elif cmd == "setup-owner":
        fields = json.loads(args[5]) if len(args) > 5 else None
        setup_owner(*args[:5], fields=fields)
    elif cmd == "seed":
        seed(*args[:5], int(args[5]), int(args[6]), *(int(a) for a in args[7:9]))
    elif cmd == "steady":
        steady(*args[:5], float(args[5]), int(args[6]), float(args[7]))
    else:
        sys.exit(f"bench_api.py: unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
