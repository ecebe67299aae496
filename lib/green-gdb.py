# libgreen's gdb extension: green threads in a live process or a core file.
#
#   info green        every green thread of every OS thread's scheduler
#   green bt ID       the backtrace of green thread ID (of the selected OS
#                     thread's scheduler, or of any when the ids are unique)
#
# Load it with `source PREFIX/share/libgreen/green-gdb.py`; make install
# also puts it where gdb auto-loads it for libgreen.so.  It needs
# libgreen's debug information (the default build has it).  The registers
# of a thread that is switched out come from its saved context (ucontext,
# or the fast switch's frame); an unwinder hands them to gdb as the caller
# of the innermost frame, which works on a core file too.

import re

import gdb
import gdb.unwinder

STATES = {
    "GREEN__RUNNABLE": "runnable",
    "GREEN__RUNNING": "running",
    "GREEN__PARKED": "parked",
    "GREEN__DONE": "done",
    "GREEN__FREED": "freed",
}


def _arch():
    """The architecture whose saved registers this script can read; riscv64
    and 32-bit ARM (which have the fast switch too) are not done yet."""
    name = gdb.selected_frame().architecture().name()
    if "aarch64" in name:
        return "aarch64"
    if "x86-64" in name:
        return "x86-64"
    raise gdb.GdbError("libgreen: green bt reads saved registers on x86-64 and "
                       "aarch64 only, not on %s" % name)


def _offset(struct_type, field):
    for f in struct_type.strip_typedefs().fields():
        if f.name == field:
            return f.bitpos // 8
    raise gdb.GdbError("libgreen: no field %s (is libgreen's debug info loaded?)" % field)


def _threads_of(sched):
    """The green threads of one scheduler, from its list of all."""
    green_t = gdb.lookup_type("struct green")
    at = _offset(green_t, "all")
    node = sched["all"]["first"]
    while int(node) != 0:
        t = gdb.Value(int(node) - at).cast(green_t.pointer()).dereference()
        yield t
        node = node["next"]


def _schedulers():
    """(OS thread, scheduler) for every OS thread inside green_run."""
    selected = gdb.selected_thread()
    found = []
    try:
        for th in gdb.selected_inferior().threads():
            th.switch()
            try:
                s = gdb.parse_and_eval("green__cur")
            except gdb.error:
                continue
            if int(s) != 0:
                found.append((th, s.dereference()))
    finally:
        if selected is not None:
            selected.switch()
    return found


def _symbol(addr):
    text = gdb.execute("info symbol 0x%x" % addr, to_string=True)
    m = re.match(r"(\S+)", text)
    return m.group(1) if m and not text.startswith("No symbol") else "0x%x" % addr


def _waits_for(t):
    """What a parked thread waits for: the name of its wait's kind."""
    wait = t["wait"]
    if int(wait) == 0:
        return ""
    name = _symbol(int(wait["op"]))
    return ": " + (name[:-3] if name.endswith("_op") else name)


def _describe(t):
    state = STATES.get(str(t["state"]), str(t["state"]))
    name = t["name"].string()
    line = "  #%d '%s' %s" % (int(t["id"]), name, state)
    if state == "parked":
        line += _waits_for(t)
    if bool(t["cancelled"]) and state != "done":
        line += " [cancelled]"
    return line


class InfoGreen(gdb.Command):
    """List the green threads of every OS thread's scheduler."""

    def __init__(self):
        super().__init__("info green", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        found = _schedulers()
        if not found:
            print("libgreen: no OS thread is inside green_run")
            return
        for th, s in found:
            current = int(s["current"])
            print("OS thread %d (LWP %d): %d green threads" %
                  (th.num, th.ptid[1], int(s["nthreads"])))
            for t in _threads_of(s):
                mark = " <- running" if int(t.address) == current else ""
                print(_describe(t) + mark)


def _saved_registers(t):
    """The registers green thread t resumes with, as {name: int}."""
    ctx = t["ctx"]
    fields = [f.name for f in ctx.type.strip_typedefs().fields()]
    arch = _arch()
    if "uc" in fields:
        mc = ctx["uc"]["uc_mcontext"]
        if arch == "aarch64":
            regs = {"x%d" % i: int(mc["regs"][i]) for i in range(19, 31)}
            regs.update(sp=int(mc["sp"]), pc=int(mc["pc"]))
            return regs
        g = mc["gregs"]
        # glibc's order of gregs on x86-64.
        index = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10, "rbx": 11,
                 "rsp": 15, "rip": 16}
        return {name: int(g[i]) & 0xFFFFFFFFFFFFFFFF for name, i in index.items()}
    # The fast switch: the frame green__ctx_switch pushed (switch_fast_*.S).
    sp = int(ctx["sp"])
    u64 = gdb.lookup_type("unsigned long long").pointer()

    def word(at):
        return int(gdb.Value(at).cast(u64).dereference())

    if arch == "aarch64":
        regs = {"x%d" % (19 + i): word(sp + 8 * i) for i in range(12)}
        regs.update(sp=sp + 176, pc=regs["x30"])
        return regs
    names = ["r15", "r14", "r13", "r12", "rbx", "rbp"]
    regs = {name: word(sp + 16 + 8 * i) for i, name in enumerate(names)}
    regs.update(rip=word(sp + 64), rsp=sp + 72)
    return regs


class _FrameId:
    """A frame's identity, as gdb's unwinders want it (gdb 14 has a class
    for it; before, any object with sp and pc)."""

    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class GreenUnwinder(gdb.unwinder.Unwinder):
    """While `target` is set, the innermost frame's caller is the saved
    context of a switched-out green thread."""

    def __init__(self):
        super().__init__("libgreen")
        self.target = None

    def __call__(self, pending_frame):
        if self.target is None or pending_frame.level() != 0:
            return None
        sp_name, pc_name = ("sp", "pc") if "sp" in self.target and "pc" in self.target \
            else ("rsp", "rip")
        frame_id = _FrameId(pending_frame.read_register(sp_name),
                            pending_frame.read_register(pc_name))
        info = pending_frame.create_unwind_info(frame_id)
        for name, value in self.target.items():
            kind = pending_frame.read_register(name).type
            info.add_saved_register(name, gdb.Value(value).cast(kind))
        return info


_unwinder = GreenUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


def _find(green_id):
    """(OS thread, scheduler, thread) for the green thread of that id; the
    selected OS thread's scheduler first."""
    found = _schedulers()
    selected = gdb.selected_thread()
    found.sort(key=lambda pair: pair[0].num != selected.num)
    for th, s in found:
        for t in _threads_of(s):
            if int(t["id"]) == green_id:
                return th, s, t
    raise gdb.GdbError("libgreen: no green thread #%d" % green_id)


def _print_frames(frame, limit=64):
    n = 0
    while frame is not None and n < limit:
        sal = frame.find_sal()
        where = ""
        if sal.symtab is not None:
            where = " at %s:%d" % (sal.symtab.filename, sal.line)
        print("#%-2d 0x%016x in %s%s" % (n, frame.pc(), frame.name() or "??", where))
        frame = frame.older()
        n += 1


class GreenBacktrace(gdb.Command):
    """green bt ID: the backtrace of green thread ID."""

    def __init__(self):
        super().__init__("green bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        try:
            green_id = int(arg.split()[0])
        except (IndexError, ValueError):
            raise gdb.GdbError("usage: green bt ID")
        th, s, t = _find(green_id)
        selected = gdb.selected_thread()
        th.switch()
        try:
            if int(t.address) == int(s["current"]):
                _print_frames(gdb.newest_frame())  # it is the one running
                return
            state = STATES.get(str(t["state"]))
            if state in ("done", "freed"):
                raise gdb.GdbError("libgreen: green thread #%d has finished" % green_id)
            _unwinder.target = _saved_registers(t)
            gdb.invalidate_cached_frames()
            try:
                _print_frames(gdb.newest_frame().older())
            finally:
                _unwinder.target = None
                gdb.invalidate_cached_frames()
        finally:
            selected.switch()


class Green(gdb.Command):
    """libgreen's commands: green bt ID (and info green)."""

    def __init__(self):
        super().__init__("green", gdb.COMMAND_STACK, prefix=True)


Green()
InfoGreen()
GreenBacktrace()
