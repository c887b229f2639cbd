#!/usr/bin/env python3
"""tools/boots.py: turns the boot table (qemu/boots.tab) into make rules, one phony
target per boot step and arch, plus the step lists TEST_KERNEL_STEPS_<arch> and
TEST_MATRIX_STEPS_<arch> and KTEST_FOUNDATION. qemu/qemu.mk includes the output.

usage: boots.py TABLE ARCH... > boots.inc     (the table's format is in its header)"""
import re
import sys

SETS = {"kernel": ("TEST_KERNEL_STEPS", "kernel", "$(KTEST_TIMEOUT)"),
        "matrix": ("TEST_MATRIX_STEPS", "matrix", "$(KMATRIX_TIMEOUT)")}
KEYS = {"panic", "announced-panic", "mincpus", "kvm", "kernel", "timeout"}
ENV_WORD = re.compile(r"^[A-Z][A-Z0-9_]*=")


def fail(path, n, msg):
    sys.exit("%s:%d: %s" % (path, n, msg))


def parse(path, arches):
    rows, foundation = [], None
    for n, line in enumerate(open(path), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if '"' in line:
            fail(path, n, "no double quotes (the rules quote every value)")
        if line.startswith("foundation ="):
            foundation = (n, line.split("=", 1)[1].split())
        elif line[0].isspace():
            key, sep, value = line.strip().partition(":")
            if not rows or not sep or key not in KEYS:
                fail(path, n, "expected '<key>: <value>' under a row, key one of %s"
                     % " ".join(sorted(KEYS)))
            rows[-1]["opt"][key] = value.strip()
        else:
            left, sep, cmdline = line.partition("|")
            words = left.split()
            if not sep or len(words) < 5:
                fail(path, n, "expected 'step arch set SMP MEM [VAR=value...] | command line'")
            step, arch, set_, smp, mem = words[:5]
            env = words[5:]
            if arch != "all" and arch not in arches:
                fail(path, n, "arch %s: not one of all %s" % (arch, " ".join(arches)))
            if set_ not in SETS:
                fail(path, n, "set %s: not one of %s" % (set_, " ".join(SETS)))
            bad = [w for w in env if not ENV_WORD.match(w) or w.split("=")[0] in
                   ("ARCH", "KERNEL", "SMP", "MEM", "APPEND")]
            if bad:
                fail(path, n, "%s: expected VAR=value for qemu/<arch>.sh (not ARCH, "
                     "KERNEL, SMP, MEM, APPEND: those have their own place)" % bad[0])
            for a in (arches if arch == "all" else [arch]):
                if any(r["step"] == step and a in r["arches"] for r in rows):
                    fail(path, n, "step %s is listed twice for %s" % (step, a))
            rows.append({"n": n, "step": step, "arches": arches if arch == "all" else [arch],
                         "set": set_, "smp": smp, "mem": mem, "env": env,
                         "cmdline": cmdline.strip(), "opt": {}})
    if foundation is None:
        fail(path, 1, "no 'foundation = <step>...' line")
    return rows, foundation


def test_suites(row):
    for w in row["cmdline"].split():
        if w.startswith("test="):
            return w[len("test="):]
    return ""


def rule(row):
    _, results, timeout = SETS[row["set"]]
    opt = row["opt"]
    env = dict(w.split("=", 1) for w in row["env"])
    kernel = opt.get("kernel", "$(KELF)")
    prereq = opt.get("kernel", "kernel")
    smp = "$(KTEST_SMP)" if row["smp"] == "." else row["smp"]
    mem = "$(KTEST_MEM)" if row["mem"] == "." else row["mem"]
    cpu, accel = env.pop("CPU", "$(CPU)"), env.pop("ACCEL", "$(ACCEL)")
    dir_ = "$(RESULTS)/%s-$(ARCH)" % results
    skip = lambda why: "$(call skip_step,$@,%s,%s)" % (dir_, why)
    words = [row["cmdline"]] if row["cmdline"] else []
    if "kvm" in opt:
        words.append("$(if $(filter kvm,$(ACCEL)),%s)" % opt["kvm"])
    append = " ".join(words + ["$(APPEND)"])
    expect = ""
    if "panic" in opt:
        expect = ' --expect-panic "%s"' % opt["panic"]
    elif "announced-panic" in opt:
        expect = " --expect-announced-panic"
    smp_sh = '"%s"' % smp
    pre, post = "", ""
    if "mincpus" in opt:
        # Too few CPUs: the step records a skip with the reason instead of failing.
        m = opt["mincpus"]
        pre = 'smp="%s"; if [ "$${smp%%%%,*}" -lt %s ]; then %s; \\\n\telse ' % (
            smp, m, skip("needs %s CPUs$(comma) SMP=$$smp" % m))
        post, smp_sh = "; fi", '"$$smp"'
    if accel == "kvm":
        pre = "if qemu/kvm-usable.sh; then " + pre
        post += "; else %s; fi" % skip("/dev/kvm unusable: KVM boot skipped")
    extra = "".join(" %s=%s" % kv for kv in env.items())
    return (".PHONY: {step}\n{step}: {prereq}\n"
            "\t@{pre}ARCH=$(ARCH) KERNEL={kernel} CPU={cpu} ACCEL={accel} SMP={smp} "
            "MEM=\"{mem}\"{extra} \\\n\t\tAPPEND=\"{append}\" \\\n"
            "\t\ttests/run-step.sh $@ {dir} {timeout} --boot{expect}{post}\n").format(
                step=row["step"], prereq=prereq, pre=pre, kernel=kernel, cpu=cpu,
                accel=accel, smp=smp_sh, mem=mem, extra=extra, append=append, dir=dir_,
                timeout=opt.get("timeout", timeout), expect=expect, post=post)


def main():
    path, arches = sys.argv[1], sys.argv[2:]
    rows, (fn, fsteps) = parse(path, arches)
    suites = []
    for s in fsteps:
        r = [r for r in rows if r["step"] == s and len(r["arches"]) == len(arches)]
        if not r or not test_suites(r[0]):
            fail(path, fn, "foundation: %s is not a boot of every arch with test=" % s)
        suites.append(test_suites(r[0]))
    out = ["# Generated by tools/boots.py from %s: edit the table, not this file." % path,
           "KTEST_FOUNDATION := " + ",".join(suites)]
    for a in arches:
        mine = [r for r in rows if a in r["arches"]]
        for set_, (var, _, _) in SETS.items():
            steps = [r["step"] for r in mine if r["set"] == set_]
            out.append("%s_%s += %s" % (var, a, " ".join(steps)))
    for a in arches:
        out.append("\nifeq ($(ARCH),%s)" % a)
        out += [rule(r) for r in rows if a in r["arches"]]
        out.append("endif")
    print("\n".join(out))


main()
