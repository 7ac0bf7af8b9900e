using System.Collections;
using System.Runtime.InteropServices;

namespace RdNet.Transport.Linux;

/// <summary>
/// Replaces this process with another program (execvpe), keeping its pid, its parent and what the kernel ties to it —
/// the parent-death signal (<see cref="ParentDeath"/>) among them, which is why rdnet run starts its command through
/// this: the signal must be set between fork and exec, and .NET's Process.Start offers no hook there.
/// </summary>
public static partial class ExecImage
{
    private const int SIGPIPE = 13;
    private const int SIG_SETMASK = 2;
    private const int SigSetBytes = 128; // glibc's sigset_t
    private static readonly nint SIG_DFL = 0;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int execvpe(nint file, nint[] argv, nint[] envp);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint signal(int signum, nint handler);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int sigprocmask(int how, byte* set, byte* oldset);

    /// <summary>
    /// Runs <paramref name="argv"/>[0] (looked up on PATH) with <paramref name="argv"/> and .NET's view of the
    /// environment (variables removed with <see cref="Environment.SetEnvironmentVariable(string, string)"/> stay
    /// removed). The .NET runtime ignores SIGPIPE and may block signals on this thread; both are reset first, so the
    /// program starts with the dispositions a program started by Process.Start gets. Returns only on failure: the errno.
    /// </summary>
    public static unsafe int Replace(IReadOnlyList<string> argv)
    {
        if (argv.Count == 0) throw new ArgumentException("no program to run", nameof(argv));
        var env = new List<string>();
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables()) env.Add($"{e.Key}={e.Value}");
        var args = ToNative(argv);
        var envp = ToNative(env);
        try
        {
            signal(SIGPIPE, SIG_DFL);
            var empty = stackalloc byte[SigSetBytes];
            new Span<byte>(empty, SigSetBytes).Clear();
            sigprocmask(SIG_SETMASK, empty, null);
            execvpe(args[0], args, envp);
            return Marshal.GetLastPInvokeError();
        }
        finally
        {
            foreach (var p in args) Marshal.FreeCoTaskMem(p);
            foreach (var p in envp) Marshal.FreeCoTaskMem(p);
        }
    }

    /// <summary>A NULL-terminated array of UTF-8 C strings.</summary>
    private static nint[] ToNative(IReadOnlyList<string> strings)
    {
        var a = new nint[strings.Count + 1];
        for (var i = 0; i < strings.Count; i++) a[i] = Marshal.StringToCoTaskMemUTF8(strings[i]);
        return a;
    }
}
