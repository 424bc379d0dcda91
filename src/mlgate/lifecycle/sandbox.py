"""Confinement of untrusted code (the team's training function) inside its own process, with
Linux Landlock (unprivileged, kernel 5.13+; network rules need ABI 4, kernel 6.7+).

After :func:`confine`, the calling process (and everything it starts) can

* read (and execute) only the paths in ``read``;
* write only below the paths in ``write``;
* open no TCP connection and bind no TCP port (unless ``network``; needs Landlock ABI 4);
* not signal, ptrace or read ``/proc/<pid>/{mem,environ,...}`` of any process outside its domain
  (Landlock's ptrace rule, and ABI 6's signal and abstract-socket scoping);
* hold no capability (a root process drops all of them, so ``CAP_DAC_*`` cannot help it either),
  and gain none (``no_new_privs``).

It is irreversible for the process. Nothing here runs in the gate process: only
:mod:`mlgate.lifecycle._train_child` calls it, before it imports the team's code.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from pathlib import Path

_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446  # the same on every Linux architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR


class SandboxUnavailable(RuntimeError):
    """The kernel cannot confine this process (no Landlock): never run untrusted code anyway."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """Landlock ABI of the running kernel (0: not available)."""
    try:
        r = int(_libc().syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)))
    except (OSError, AttributeError):
        return 0
    return max(r, 0)


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _attr_size(abi: int) -> int:
    return 8 if abi < 4 else 16 if abi < 6 else 24


def _drop_capabilities() -> None:
    libc = _libc()
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability: ignored

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    hdr = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capset(ctypes.byref(hdr), data) != 0:
        raise SandboxUnavailable(f"capset: {os.strerror(ctypes.get_errno())}")


def confine(read: Iterable[Path | str], write: Iterable[Path | str], *, network: bool = False) -> int:
    """Restrict this process for good (see the module docstring); return the Landlock ABI used."""
    abi = abi_version()
    if abi < 1:
        raise SandboxUnavailable("Landlock is not available in this kernel (Linux 5.13+ with landlock in the LSM list)")
    if not network and abi < 4:
        raise SandboxUnavailable(f"Landlock ABI {abi} cannot deny network access (needs ABI 4, Linux 6.7+)")
    libc = _libc()
    fs = _fs_rights(abi)
    attr = _RulesetAttr(fs, 0 if network else (NET_BIND_TCP | NET_CONNECT_TCP),
                        (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    fd = int(libc.syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(_attr_size(abi)), ctypes.c_uint32(0)))
    if fd < 0:
        raise SandboxUnavailable(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for paths, rights in ((read, READ_RIGHTS), (write, fs)):
            for p in paths:
                _add_path(libc, fd, Path(p), rights & fs)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise SandboxUnavailable(f"no_new_privs: {os.strerror(ctypes.get_errno())}")
        if os.geteuid() == 0:
            _drop_capabilities()
        if int(libc.syscall(_SYS_RESTRICT, ctypes.c_int(fd), ctypes.c_uint32(0))) != 0:
            raise SandboxUnavailable(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
    return abi


def _add_path(libc: ctypes.CDLL, ruleset: int, path: Path, rights: int) -> None:
    try:
        pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # nothing there: nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = _PathBeneathAttr(rights, pfd)
        if int(libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                            ctypes.byref(rule), ctypes.c_uint32(0))) != 0:
            raise SandboxUnavailable(f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(pfd)
