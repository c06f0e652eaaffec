using System.Reflection;
using System.Runtime.InteropServices;

namespace OffRL.MuJoCo;

/// <summary>
/// P/Invoke to MuJoCo 2.2.2's C API (Debian's libmujoco2.2.2). Struct fields are read at the offsets of that
/// version's mjModel / mjData (measured with offsetof against its headers); <see cref="EnsureLoaded"/> refuses
/// any other version, since the offsets would then be wrong.
/// </summary>
internal static unsafe partial class Native
{
    private const string Lib = "mujoco";
    public const int SupportedVersion = 222;

    static Native()
    {
        NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, (name, asm, path) =>
        {
            if (name != Lib) return IntPtr.Zero;
            foreach (var candidate in new[] { "libmujoco.so.2.2.2", "libmujoco.so", "/usr/lib/x86_64-linux-gnu/libmujoco.so.2.2.2", "/usr/lib/aarch64-linux-gnu/libmujoco.so.2.2.2" })
                if (NativeLibrary.TryLoad(candidate, asm, path, out var h)) return h;
            return IntPtr.Zero;
        });
    }

    [LibraryImport(Lib)] public static partial int mj_version();
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr mj_loadXML(string filename, IntPtr vfs, byte* error, int errorSize);
    [LibraryImport(Lib)] public static partial IntPtr mj_makeData(IntPtr m);
    [LibraryImport(Lib)] public static partial void mj_deleteData(IntPtr d);
    [LibraryImport(Lib)] public static partial void mj_deleteModel(IntPtr m);
    [LibraryImport(Lib)] public static partial void mj_resetData(IntPtr m, IntPtr d);
    [LibraryImport(Lib)] public static partial void mj_step(IntPtr m, IntPtr d);
    [LibraryImport(Lib)] public static partial void mj_forward(IntPtr m, IntPtr d);
    [LibraryImport(Lib)] public static partial void mj_rnePostConstraint(IntPtr m, IntPtr d);

    private static bool s_checked;

    /// <summary>Loads the library and checks its version; throws a clear error where it is missing or different.</summary>
    public static void EnsureLoaded()
    {
        if (s_checked) return;
        int v;
        try { v = mj_version(); }
        catch (DllNotFoundException e)
        {
            throw new DllNotFoundException("MuJoCo is not installed: OffRL.MuJoCo needs Debian's libmujoco2.2.2 (run scripts/install-deps.sh, or apt-get install libmujoco2.2.2)", e);
        }
        if (v != SupportedVersion) throw new NotSupportedException($"OffRL.MuJoCo binds MuJoCo 2.2.2 (version {SupportedVersion}); the loaded library reports version {v}");
        s_checked = true;
    }

    /// <summary>Whether libmujoco 2.2.2 can be loaded here.</summary>
    public static bool IsAvailable
    {
        get
        {
            try { EnsureLoaded(); return true; }
            catch (Exception e) when (e is DllNotFoundException or NotSupportedException or EntryPointNotFoundException) { return false; }
        }
    }

    // Field offsets in MuJoCo 2.2.2 (x86-64): mjModel
    public const int M_nq = 0, M_nv = 4, M_nu = 8, M_nbody = 16, M_njnt = 20, M_ngeom = 24;
    public const int M_opt_timestep = 232, M_opt_gravity = 280, M_opt_integrator = 432;
    public const int M_qpos0 = 1096, M_body_mass = 1240, M_body_subtreemass = 1248, M_body_inertia = 1256;
    public const int M_jnt_stiffness = 1360, M_dof_armature = 1456, M_dof_damping = 1464;
    public const int M_geom_friction = 1624, M_actuator_gear = 2816;
    // mjData
    public const int D_time = 40336, D_qpos = 40376, D_qvel = 40384, D_act = 40392, D_qacc_warmstart = 40400, D_ctrl = 40408, D_qacc = 40448, D_cfrc_ext = 41168;

    public static int Int(IntPtr p, int offset) => *(int*)((byte*)p + offset);
    public static double* Ptr(IntPtr p, int offset) => *(double**)((byte*)p + offset);
    public static double* Field(IntPtr p, int offset) => (double*)((byte*)p + offset);
}

/// <summary>A compiled MuJoCo model (mjModel), freed when its last user is disposed.</summary>
public sealed unsafe class MjModel : IDisposable
{
    private IntPtr _m;
    private int _refs = 1;
    public IntPtr Handle => _m != IntPtr.Zero ? _m : throw new ObjectDisposedException(nameof(MjModel));

    private MjModel(IntPtr m) => _m = m;

    /// <summary>Compile an MJCF document (written to a temporary file, as mj_loadXML reads files).</summary>
    public static MjModel FromXml(string xml, string name = "model")
    {
        Native.EnsureLoaded();
        var path = Path.Combine(Path.GetTempPath(), $"offrl-{name}-{Environment.ProcessId}-{Guid.NewGuid():N}.xml");
        File.WriteAllText(path, xml);
        try
        {
            var err = stackalloc byte[1000];
            var m = Native.mj_loadXML(path, IntPtr.Zero, err, 1000);
            if (m == IntPtr.Zero) throw new InvalidDataException($"MuJoCo could not compile the {name} model: {Marshal.PtrToStringUTF8((IntPtr)err)}");
            return new MjModel(m);
        }
        finally { File.Delete(path); }
    }

    public int Nq => Native.Int(Handle, Native.M_nq);
    public int Nv => Native.Int(Handle, Native.M_nv);
    public int Nu => Native.Int(Handle, Native.M_nu);
    public int NBody => Native.Int(Handle, Native.M_nbody);
    public int NGeom => Native.Int(Handle, Native.M_ngeom);
    public double Timestep { get => *Native.Field(Handle, Native.M_opt_timestep); set => *Native.Field(Handle, Native.M_opt_timestep) = value; }
    public Span<double> Gravity => new(Native.Field(Handle, Native.M_opt_gravity), 3);
    public Span<double> Qpos0 => new(Native.Ptr(Handle, Native.M_qpos0), Nq);
    public Span<double> BodyMass => new(Native.Ptr(Handle, Native.M_body_mass), NBody);
    public Span<double> BodyInertia => new(Native.Ptr(Handle, Native.M_body_inertia), NBody * 3);
    public Span<double> GeomFriction => new(Native.Ptr(Handle, Native.M_geom_friction), NGeom * 3);
    public Span<double> ActuatorGear => new(Native.Ptr(Handle, Native.M_actuator_gear), Nu * 6);
    public Span<double> DofDamping => new(Native.Ptr(Handle, Native.M_dof_damping), Nv);
    public Span<double> DofArmature => new(Native.Ptr(Handle, Native.M_dof_armature), Nv);

    /// <summary>Whether more than one environment uses this model (then its parameters must not be changed).</summary>
    public bool IsShared => Volatile.Read(ref _refs) > 1;

    /// <summary>Another user of the same model (one model, many data: vector envs).</summary>
    public MjModel AddRef()
    {
        if (Interlocked.Increment(ref _refs) <= 1) throw new ObjectDisposedException(nameof(MjModel));
        return this;
    }

    public void Dispose()
    {
        if (Interlocked.Decrement(ref _refs) == 0)
        {
            var m = Interlocked.Exchange(ref _m, IntPtr.Zero);
            if (m != IntPtr.Zero) Native.mj_deleteModel(m);
            GC.SuppressFinalize(this);
        }
    }

    ~MjModel() { if (_m != IntPtr.Zero) Native.mj_deleteModel(_m); }
}

/// <summary>Simulation state (mjData) of one model.</summary>
public sealed unsafe class MjData : IDisposable
{
    private IntPtr _d;
    public MjModel Model { get; }
    public IntPtr Handle => _d != IntPtr.Zero ? _d : throw new ObjectDisposedException(nameof(MjData));

    public MjData(MjModel model)
    {
        Model = model;
        _d = Native.mj_makeData(model.Handle);
        if (_d == IntPtr.Zero) throw new OutOfMemoryException("mj_makeData failed");
    }

    public double Time { get => *Native.Field(Handle, Native.D_time); set => *Native.Field(Handle, Native.D_time) = value; }
    public Span<double> Qpos => new(Native.Ptr(Handle, Native.D_qpos), Model.Nq);
    public Span<double> Qvel => new(Native.Ptr(Handle, Native.D_qvel), Model.Nv);
    public Span<double> Ctrl => new(Native.Ptr(Handle, Native.D_ctrl), Model.Nu);
    public Span<double> Qacc => new(Native.Ptr(Handle, Native.D_qacc), Model.Nv);
    public Span<double> QaccWarmstart => new(Native.Ptr(Handle, Native.D_qacc_warmstart), Model.Nv);

    /// <summary>External contact forces per body (com-based: torque then force), filled by <see cref="RnePostConstraint"/>.</summary>
    public Span<double> CfrcExt => new(Native.Ptr(Handle, Native.D_cfrc_ext), Model.NBody * 6);

    public void Reset() => Native.mj_resetData(Model.Handle, Handle);
    public void RnePostConstraint() => Native.mj_rnePostConstraint(Model.Handle, Handle);
    public void Step() => Native.mj_step(Model.Handle, Handle);
    public void Forward() => Native.mj_forward(Model.Handle, Handle);

    public void Dispose()
    {
        var d = Interlocked.Exchange(ref _d, IntPtr.Zero);
        if (d != IntPtr.Zero) Native.mj_deleteData(d);
        GC.SuppressFinalize(this);
    }

    ~MjData() { if (_d != IntPtr.Zero) Native.mj_deleteData(_d); }
}
