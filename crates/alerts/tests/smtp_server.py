"""A real SMTP server for the alerts tests (aiosmtpd), on 127.0.0.1 and a free port.

Usage: smtp_server.py OUT_DIR [CERT KEY]
With CERT and KEY it offers STARTTLS and requires it before any mail command; without them it
offers no STARTTLS at all. Each message received is written to OUT_DIR as one JSON file:
{"tls": bool, "mail_from": str, "rcpt_tos": [str], "data": str (raw), "subject": str,
"body": str (decoded)}. Prints the port when ready,
and exits when its standard input closes (the test ended).
"""

import asyncio
import email
import email.policy
import json
import logging
import os
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP


class Saver:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message = {
            "tls": session.ssl is not None,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "subject": str(parsed["subject"]),
            "body": parsed.get_content(),
        }
        tmp = os.path.join(self.out_dir, f".{self.count}.tmp")
        with open(tmp, "w") as f:
            json.dump(message, f)
        os.rename(tmp, os.path.join(self.out_dir, f"{self.count}.json"))
        return "250 OK"


def main():
    # Refused handshakes are what some tests expect; keep their tracebacks out of the output.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    out_dir = sys.argv[1]
    context = None
    if len(sys.argv) == 4:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
    handler = Saver(out_dir)
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(handler, hostname="localhost", tls_context=context,
                         require_starttls=context is not None),
            host="127.0.0.1",
            port=0,
        )
    )
    print(server.sockets[0].getsockname()[1], flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    loop.run_forever()


main()
