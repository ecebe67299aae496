"""What the Python peers share: the HTTP answer and reading memory."""

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n"
            b"\r\nHello, World!")


def memory():
    """Resident memory plus page tables of this process, in bytes."""
    kb = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmPTE:")):
                kb += int(line.split()[1])
    return kb * 1024
