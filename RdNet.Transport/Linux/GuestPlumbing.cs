using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Linux;

/// <summary>An ip(8) or other setup command failed; the message is the command and what it printed.</summary>
public sealed class SetupCommandException(string message) : Exception(message);

/// <summary>
/// The namespace and veth plumbing network-setup does (spec §3.5), through iproute2: named namespaces the way
/// <c>ip netns add</c> makes them (a bind mount under /run/netns, so other tools can find them by name), and a veth
/// pair with one end moved into that namespace. Every call acts on the calling process's own network namespace.
/// </summary>
public sealed class GuestPlumbing(TimeSpan commandTimeout, string ipPath = "ip")
{
    public static string NamespacePath(string name) => Path.Combine(NetNamespace.NamedNamespaceDirectory, name);

    public static bool NamespaceExists(string name) => File.Exists(NamespacePath(name));

    public void AddNamespace(string name) => Ip("netns", "add", name);

    public void DeleteNamespace(string name) => Ip("netns", "delete", name);

    /// <summary>
    /// SIGKILLs every process still inside the named namespace and returns how many there were. Deleting a namespace
    /// only unmounts its name: processes left inside (a udhcpc that outlived a killed vm-switch) would run on forever.
    /// </summary>
    public int KillProcessesIn(string name)
    {
        var (exit, output) = Run(ipPath, ["netns", "pids", name], check: false);
        if (exit != 0) return 0;
        var killed = 0;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 1 && pid != Environment.ProcessId
                && ChildPlumbing.Signal(pid, ChildPlumbing.SIGKILL))
                killed++;
        }
        return killed;
    }

    /// <summary>True when an interface of that name exists in this process's namespace.</summary>
    public bool InterfaceExists(string name) => Run(ipPath, ["-o", "link", "show", "dev", name], check: false).ExitCode == 0;

    public void DeleteInterface(string name) => Ip("link", "delete", "dev", name);

    /// <summary>Creates <paramref name="hostEnd"/> here and its peer <paramref name="namespaceEnd"/> inside <paramref name="netns"/>.</summary>
    public void AddVethPair(string hostEnd, string namespaceEnd, string netns) =>
        Ip("link", "add", hostEnd, "type", "veth", "peer", "name", namespaceEnd, "netns", netns);

    /// <summary>Adds an address and brings the interface up, here (<paramref name="netns"/> null) or inside a named namespace.</summary>
    public void AddressAndUp(string? netns, string device, Ipv4Address address, int prefixLength)
    {
        string[] scope = netns is null ? [] : ["-n", netns];
        Ip([.. scope, "addr", "add", $"{address}/{prefixLength.ToString(CultureInfo.InvariantCulture)}", "dev", device]);
        Ip([.. scope, "link", "set", "dev", device, "up"]);
    }

    public void LinkUp(string netns, string device) => Ip("-n", netns, "link", "set", "dev", device, "up");

    private void Ip(params string[] args) => Run(ipPath, args, check: true);

    private (int ExitCode, string Output) Run(string file, string[] args, bool check)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var line = $"{file} {string.Join(' ', args)}";
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new SetupCommandException($"{line}: could not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new SetupCommandException($"{line}: {e.Message} (is iproute2 installed?)");
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(commandTimeout))
            {
                p.Kill(entireProcessTree: true);
                throw new SetupCommandException($"{line}: no answer within {commandTimeout.TotalSeconds:0.#} s");
            }
            p.WaitForExit();
            var output = (stderr.Result + stdout.Result).Trim();
            if (check && p.ExitCode != 0) throw new SetupCommandException($"{line} failed (exit {p.ExitCode}): {output}");
            return (p.ExitCode, output);
        }
    }
}

/// <summary>Process plumbing for the children network-setup starts: a socketpair for fd 3, posix_spawn, signals.</summary>
public static partial class ChildPlumbing
{
    private const int AF_UNIX = 1;
    private const int SOCK_STREAM = 1;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int F_DUPFD_CLOEXEC = 1030;
    private const int EINTR = 4;
    public const int SIGINT = 2;
    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int socketpair(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int sys_kill(int pid, int sig);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_init(IntPtr actions);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_adddup2(IntPtr actions, int fd, int newfd);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_destroy(IntPtr actions);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn(int* pid, byte* path, IntPtr actions, IntPtr attributes, byte** argv, byte** envp);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int waitpid(int pid, int* status, int options);

    /// <summary>
    /// A connected unix stream pair, both ends close-on-exec: ours as a Socket, the child's as a descriptor numbered
    /// ≥ 10 (never 3 itself, so that dup2 onto 3 in the child really makes an inheritable copy).
    /// </summary>
    public static unsafe (Socket Ours, int ChildFd) CreatePair()
    {
        int* sv = stackalloc int[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            throw new IOException($"socketpair failed (errno {Marshal.GetLastPInvokeError()})");
        var child = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        var errno = Marshal.GetLastPInvokeError();
        _ = close(sv[1]);
        if (child < 0)
        {
            _ = close(sv[0]);
            throw new IOException($"fcntl(F_DUPFD_CLOEXEC) failed (errno {errno})");
        }
        return (new Socket(new SafeSocketHandle(sv[0], ownsHandle: true)), child);
    }

    public static void CloseDescriptor(int fd) => _ = close(fd);

    /// <summary>
    /// Starts <paramref name="path"/> with <paramref name="fd3"/> as the child's fd 3 (the original's ExtraFiles[0],
    /// spec §3.4) and every other descriptor of ours closed (they are all close-on-exec). posix_spawn runs in the
    /// calling thread's network namespace, so called from <see cref="NetNamespace.RunInPath{T}"/> the child starts
    /// inside that namespace. Exit is observed by a thread of its own blocked in waitpid (.NET reaps only the
    /// children it started itself).
    /// </summary>
    public static unsafe SpawnedProcess SpawnWithFd3(string path, IReadOnlyList<string> args, int fd3)
    {
        var strings = new List<IntPtr>();
        IntPtr Utf8(string s)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            strings.Add(p);
            return p;
        }
        var actions = Marshal.AllocHGlobal(256); // posix_spawn_file_actions_t is 80 bytes on glibc and musl
        try
        {
            if (posix_spawn_file_actions_init(actions) != 0) throw new IOException("posix_spawn_file_actions_init failed");
            try
            {
                if (posix_spawn_file_actions_adddup2(actions, fd3, 3) is var e and not 0)
                    throw new IOException($"posix_spawn_file_actions_adddup2 failed (errno {e})");
                var argv = new IntPtr[args.Count + 2];
                argv[0] = Utf8(path);
                for (var i = 0; i < args.Count; i++) argv[i + 1] = Utf8(args[i]);
                var env = Environment.GetEnvironmentVariables();
                var envp = new IntPtr[env.Count + 1];
                var k = 0;
                foreach (System.Collections.DictionaryEntry entry in env) envp[k++] = Utf8($"{entry.Key}={entry.Value}");
                int pid;
                int rc;
                fixed (IntPtr* a = argv)
                fixed (IntPtr* en = envp)
                {
                    rc = posix_spawn(&pid, (byte*)argv[0], actions, IntPtr.Zero, (byte**)a, (byte**)en);
                }
                if (rc != 0) throw new IOException($"cannot start {path}: {Marshal.GetPInvokeErrorMessage(rc)} (errno {rc})");
                return new SpawnedProcess(pid);
            }
            finally
            {
                _ = posix_spawn_file_actions_destroy(actions);
            }
        }
        finally
        {
            Marshal.FreeHGlobal(actions);
            foreach (var p in strings) Marshal.FreeCoTaskMem(p);
        }
    }

    internal static unsafe int WaitForExit(int pid)
    {
        int status;
        while (waitpid(pid, &status, 0) < 0)
        {
            if (Marshal.GetLastPInvokeError() != EINTR) return -1;
        }
        // WIFEXITED: low 7 bits zero → exit code in bits 8-15; otherwise killed by the signal in the low 7 bits.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
    }

    /// <summary>Sends a signal; false if the process is already gone.</summary>
    public static bool Signal(int pid, int signal) => sys_kill(pid, signal) == 0;

    /// <summary>The children of a process (Linux ≥ 3.5, /proc/PID/task/PID/children).</summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
            return text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }
}

/// <summary>A child started by <see cref="ChildPlumbing.SpawnWithFd3"/>; <see cref="Exited"/> completes with its exit code (128+N when killed by signal N).</summary>
public sealed class SpawnedProcess
{
    internal SpawnedProcess(int pid)
    {
        Pid = pid;
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() => done.SetResult(ChildPlumbing.WaitForExit(pid))) { IsBackground = true, Name = $"waitpid {pid}" }.Start();
        Exited = done.Task;
    }

    public int Pid { get; }

    public Task<int> Exited { get; }

    public bool HasExited => Exited.IsCompleted;
}
