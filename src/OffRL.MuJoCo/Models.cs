namespace OffRL.MuJoCo;

/// <summary>
/// MJCF models of Gym's locomotion tasks, written for OffRL from their published physical parameters
/// (bodies, joints, geoms, actuators and options as restated in shared/reference/env-facts.md, section 2).
/// Lengths in metres, angles in radians, masses from geometry at density 1000. Local coordinates.
/// </summary>
internal static class Models
{
    /// <summary>Root joints of the planar walkers: slide x, slide z (reference height), hinge about y; free of limits, armature and damping.</summary>
    private static string Root(double zRef) =>
        $"""
              <joint name="rootx" type="slide" axis="1 0 0" pos="0 0 0" limited="false" armature="0" damping="0" stiffness="0"/>
              <joint name="rootz" type="slide" axis="0 0 1" pos="0 0 0" ref="{zRef}" limited="false" armature="0" damping="0" stiffness="0"/>
              <joint name="rooty" type="hinge" axis="0 1 0" pos="0 0 0" limited="false" armature="0" damping="0" stiffness="0"/>
        """;

    public static readonly string Hopper = $"""
        <mujoco model="hopper">
          <compiler angle="radian" inertiafromgeom="true"/>
          <option timestep="0.002" integrator="RK4"/>
          <default>
            <joint armature="1" damping="1" limited="true"/>
            <geom contype="1" conaffinity="1" condim="1" margin="0.001" solref="0.02 1" solimp="0.8 0.8 0.01"/>
          </default>
          <worldbody>
            <geom name="floor" type="plane" size="20 20 0.125" condim="3" friction="1 0.005 0.0001"/>
            <body name="torso" pos="0 0 1.25">
        {Root(1.25)}
              <geom name="torso_geom" type="capsule" fromto="0 0 -0.2 0 0 0.2" size="0.05" friction="0.9"/>
              <body name="thigh" pos="0 0 -0.2">
                <joint name="thigh_joint" type="hinge" axis="0 -1 0" pos="0 0 0" range="-2.61799 0"/>
                <geom name="thigh_geom" type="capsule" fromto="0 0 0 0 0 -0.45" size="0.05" friction="0.9"/>
                <body name="leg" pos="0 0 -0.7">
                  <joint name="leg_joint" type="hinge" axis="0 -1 0" pos="0 0 0.25" range="-2.61799 0"/>
                  <geom name="leg_geom" type="capsule" fromto="0 0 0.25 0 0 -0.25" size="0.04" friction="0.9"/>
                  <body name="foot" pos="0.13 0 -0.35">
                    <joint name="foot_joint" type="hinge" axis="0 -1 0" pos="-0.13 0 0.1" range="-0.785398 0.785398"/>
                    <geom name="foot_geom" type="capsule" fromto="-0.26 0 0.1 0.13 0 0.1" size="0.06" friction="2.0"/>
                  </body>
                </body>
              </body>
            </body>
          </worldbody>
          <actuator>
            <motor joint="thigh_joint" gear="200" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="leg_joint" gear="200" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="foot_joint" gear="200" ctrllimited="true" ctrlrange="-1 1"/>
          </actuator>
        </mujoco>
        """;

    private static string WalkerLeg(string suffix, double footFriction) => $"""
              <body name="thigh{suffix}" pos="0 0 -0.2">
                <joint name="thigh{suffix}_joint" type="hinge" axis="0 -1 0" pos="0 0 0" range="-2.61799 0"/>
                <geom name="thigh{suffix}_geom" type="capsule" fromto="0 0 0 0 0 -0.45" size="0.05" friction="0.9"/>
                <body name="leg{suffix}" pos="0 0 -0.7">
                  <joint name="leg{suffix}_joint" type="hinge" axis="0 -1 0" pos="0 0 0.25" range="-2.61799 0"/>
                  <geom name="leg{suffix}_geom" type="capsule" fromto="0 0 0.25 0 0 -0.25" size="0.04" friction="0.9"/>
                  <body name="foot{suffix}" pos="0.2 0 -0.35">
                    <joint name="foot{suffix}_joint" type="hinge" axis="0 -1 0" pos="-0.2 0 0.1" range="-0.785398 0.785398"/>
                    <geom name="foot{suffix}_geom" type="capsule" fromto="-0.2 0 0.1 0 0 0.1" size="0.06" friction="{footFriction}"/>
                  </body>
                </body>
              </body>
        """;

    /// <summary>Walker2d with Gym v2-v4's friction quirk: right foot 0.9, left foot 1.9.</summary>
    public static readonly string Walker2d = $"""
        <mujoco model="walker2d">
          <compiler angle="radian" inertiafromgeom="true"/>
          <option timestep="0.002" integrator="RK4"/>
          <default>
            <joint armature="0.01" damping="0.1" limited="true"/>
            <geom contype="1" conaffinity="0" condim="3" density="1000" friction="0.7 0.1 0.1"/>
          </default>
          <worldbody>
            <geom name="floor" type="plane" size="40 40 40" conaffinity="1" condim="3" friction="0.7 0.1 0.1"/>
            <body name="torso" pos="0 0 1.25">
        {Root(1.25)}
              <geom name="torso_geom" type="capsule" fromto="0 0 -0.2 0 0 0.2" size="0.05" friction="0.9"/>
        {WalkerLeg("", 0.9)}
        {WalkerLeg("_left", 1.9)}
            </body>
          </worldbody>
          <actuator>
            <motor joint="thigh_joint" gear="100" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="leg_joint" gear="100" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="foot_joint" gear="100" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="thigh_left_joint" gear="100" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="leg_left_joint" gear="100" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="foot_left_joint" gear="100" ctrllimited="true" ctrlrange="-1 1"/>
          </actuator>
        </mujoco>
        """;

    private static string CheetahLink(string name, string range, double stiffness, double damping, string geomPos, double tilt, double half) => $"""
                <joint name="{name}" type="hinge" axis="0 1 0" pos="0 0 0" range="{range}" stiffness="{stiffness}" damping="{damping}"/>
                <geom name="{name}_geom" type="capsule" pos="{geomPos}" axisangle="0 1 0 {tilt}" size="0.046 {half}"/>
        """;

    public static readonly string HalfCheetah = $"""
        <mujoco model="cheetah">
          <compiler angle="radian" inertiafromgeom="true" settotalmass="14"/>
          <option timestep="0.01" integrator="Euler"/>
          <default>
            <joint armature="0.1" damping="0.01" stiffness="8" limited="true" solreflimit="0.02 1" solimplimit="0 0.8 0.03"/>
            <geom contype="1" conaffinity="0" condim="3" friction="0.4 0.1 0.1" solref="0.02 1" solimp="0 0.8 0.01"/>
          </default>
          <worldbody>
            <geom name="floor" type="plane" size="40 40 40" conaffinity="1" condim="3" friction="0.4 0.1 0.1"/>
            <body name="torso" pos="0 0 0.7">
        {Root(0)}
              <geom name="torso_geom" type="capsule" fromto="-0.5 0 0 0.5 0 0" size="0.046"/>
              <geom name="head" type="capsule" pos="0.6 0 0.1" axisangle="0 1 0 0.87" size="0.046 0.15"/>
              <body name="bthigh" pos="-0.5 0 0">
        {CheetahLink("bthigh", "-0.52 1.05", 240, 6, "0.1 0 -0.13", -3.8, 0.145)}
                <body name="bshin" pos="0.16 0 -0.25">
        {CheetahLink("bshin", "-0.785 0.785", 180, 4.5, "-0.14 0 -0.07", -2.03, 0.15)}
                  <body name="bfoot" pos="-0.28 0 -0.14">
        {CheetahLink("bfoot", "-0.4 0.785", 120, 3, "0.03 0 -0.097", -0.27, 0.094)}
                  </body>
                </body>
              </body>
              <body name="fthigh" pos="0.5 0 0">
        {CheetahLink("fthigh", "-1 0.7", 180, 4.5, "-0.07 0 -0.12", 0.52, 0.133)}
                <body name="fshin" pos="-0.14 0 -0.24">
        {CheetahLink("fshin", "-1.2 0.87", 120, 3, "0.065 0 -0.09", -0.6, 0.106)}
                  <body name="ffoot" pos="0.13 0 -0.18">
        {CheetahLink("ffoot", "-0.5 0.5", 60, 1.5, "0.045 0 -0.07", -0.6, 0.07)}
                  </body>
                </body>
              </body>
            </body>
          </worldbody>
          <actuator>
            <motor joint="bthigh" gear="120" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="bshin" gear="90" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="bfoot" gear="60" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="fthigh" gear="120" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="fshin" gear="60" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="ffoot" gear="30" ctrllimited="true" ctrlrange="-1 1"/>
          </actuator>
        </mujoco>
        """;

    /// <summary>One ant leg: a thigh stub fixed to the torso, a hip (about z) and an ankle, capsules of radius 0.08.</summary>
    private static string AntLeg(string name, int k, int sx, int sy, string ankleAxis, string ankleRange) => $"""
              <body name="{name}" pos="0 0 0">
                <geom name="aux_{k}_geom" type="capsule" fromto="0 0 0 {0.2 * sx} {0.2 * sy} 0" size="0.08"/>
                <body name="aux_{k}" pos="{0.2 * sx} {0.2 * sy} 0">
                  <joint name="hip_{k}" type="hinge" axis="0 0 1" pos="0 0 0" range="-30 30"/>
                  <geom name="leg_{k}_geom" type="capsule" fromto="0 0 0 {0.2 * sx} {0.2 * sy} 0" size="0.08"/>
                  <body name="foot_{k}" pos="{0.2 * sx} {0.2 * sy} 0">
                    <joint name="ankle_{k}" type="hinge" axis="{ankleAxis}" pos="0 0 0" range="{ankleRange}"/>
                    <geom name="ankle_{k}_geom" type="capsule" fromto="0 0 0 {0.4 * sx} {0.4 * sy} 0" size="0.08"/>
                  </body>
                </body>
              </body>
        """;

    /// <summary>Ant (Schulman et al. 2016; Gym's v2-v4 model): a sphere torso on a free joint, four two-link legs, density 5, gear 150. Joint ranges in degrees.</summary>
    public static readonly string Ant = $"""
        <mujoco model="ant">
          <compiler angle="degree" inertiafromgeom="true"/>
          <option timestep="0.01" integrator="RK4"/>
          <default>
            <joint armature="1" damping="1" limited="true"/>
            <geom conaffinity="0" condim="3" density="5.0" friction="1 0.5 0.5" margin="0.01"/>
          </default>
          <worldbody>
            <geom name="floor" type="plane" size="40 40 40" conaffinity="1" condim="3"/>
            <body name="torso" pos="0 0 0.75">
              <geom name="torso_geom" type="sphere" size="0.25"/>
              <joint name="root" type="free" pos="0 0 0" limited="false" armature="0" damping="0" margin="0.01"/>
        {AntLeg("front_left_leg", 1, 1, 1, "-1 1 0", "30 70")}
        {AntLeg("front_right_leg", 2, -1, 1, "1 1 0", "-70 -30")}
        {AntLeg("back_leg", 3, -1, -1, "-1 1 0", "-70 -30")}
        {AntLeg("right_back_leg", 4, 1, -1, "1 1 0", "30 70")}
            </body>
          </worldbody>
          <actuator>
            <motor joint="hip_4" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="ankle_4" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="hip_1" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="ankle_1" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="hip_2" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="ankle_2" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="hip_3" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
            <motor joint="ankle_3" gear="150" ctrllimited="true" ctrlrange="-1 1"/>
          </actuator>
        </mujoco>
        """;
}
