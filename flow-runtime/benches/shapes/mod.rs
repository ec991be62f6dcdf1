//! The workflows the overhead benchmarks measure, each beside hand-written `tokio::join!`
//! code doing the same work: a diamond of 4, a chain of 100 and a fan-out of 1 → 100 → 1,
//! with trivial node bodies.

use flow_runtime::{node, workflow};

pub mod diamond {
    use super::*;

    pub struct In(pub u64);
    pub struct A(pub u64);
    pub struct B(pub u64);
    pub struct C(pub u64);
    pub struct D(pub u64);

    #[node]
    pub async fn a(i: &In) -> A {
        A(i.0 + 1)
    }
    #[node]
    pub async fn b(a: &A) -> B {
        B(a.0 + 2)
    }
    #[node]
    pub async fn c(a: &A) -> C {
        C(a.0 + 3)
    }
    #[node]
    pub async fn d(b: &B, c: &C) -> D {
        D(b.0 + c.0)
    }

    #[workflow(a, b, c, d)]
    pub async fn generated(i: In) -> D;

    pub async fn hand_written(i: In) -> D {
        let a = a(&i).await;
        let (b, c) = tokio::join!(b(&a), c(&a));
        d(&b, &c).await
    }
}

macro_rules! chain {
    ($first:ident $first_ty:ident, $($prev:ident $prev_ty:ident => $n:ident $t:ident),* ; $last:ident $last_ty:ident) => {
        pub struct In(pub u64);
        pub struct $first_ty(pub u64);
        #[node]
        pub async fn $first(i: &In) -> $first_ty {
            $first_ty(i.0 + 1)
        }
        $(
            pub struct $t(pub u64);
            #[node]
            pub async fn $n(x: &$prev_ty) -> $t {
                $t(x.0 + 1)
            }
        )*

        #[workflow($first, $($n),*)]
        pub async fn generated(i: In) -> $last_ty;

        pub async fn hand_written(i: In) -> $last_ty {
            let $first = $first(&i).await;
            $( let $n = $n(&$prev).await; )*
            $last
        }
    };
}

pub mod chain100 {
    use super::*;
    chain!(c0 C0,
        c0 C0 => c1 C1, c1 C1 => c2 C2, c2 C2 => c3 C3, c3 C3 => c4 C4, c4 C4 => c5 C5,
        c5 C5 => c6 C6, c6 C6 => c7 C7, c7 C7 => c8 C8, c8 C8 => c9 C9, c9 C9 => c10 C10,
        c10 C10 => c11 C11, c11 C11 => c12 C12, c12 C12 => c13 C13, c13 C13 => c14 C14, c14 C14 => c15 C15,
        c15 C15 => c16 C16, c16 C16 => c17 C17, c17 C17 => c18 C18, c18 C18 => c19 C19, c19 C19 => c20 C20,
        c20 C20 => c21 C21, c21 C21 => c22 C22, c22 C22 => c23 C23, c23 C23 => c24 C24, c24 C24 => c25 C25,
        c25 C25 => c26 C26, c26 C26 => c27 C27, c27 C27 => c28 C28, c28 C28 => c29 C29, c29 C29 => c30 C30,
        c30 C30 => c31 C31, c31 C31 => c32 C32, c32 C32 => c33 C33, c33 C33 => c34 C34, c34 C34 => c35 C35,
        c35 C35 => c36 C36, c36 C36 => c37 C37, c37 C37 => c38 C38, c38 C38 => c39 C39, c39 C39 => c40 C40,
        c40 C40 => c41 C41, c41 C41 => c42 C42, c42 C42 => c43 C43, c43 C43 => c44 C44, c44 C44 => c45 C45,
        c45 C45 => c46 C46, c46 C46 => c47 C47, c47 C47 => c48 C48, c48 C48 => c49 C49, c49 C49 => c50 C50,
        c50 C50 => c51 C51, c51 C51 => c52 C52, c52 C52 => c53 C53, c53 C53 => c54 C54, c54 C54 => c55 C55,
        c55 C55 => c56 C56, c56 C56 => c57 C57, c57 C57 => c58 C58, c58 C58 => c59 C59, c59 C59 => c60 C60,
        c60 C60 => c61 C61, c61 C61 => c62 C62, c62 C62 => c63 C63, c63 C63 => c64 C64, c64 C64 => c65 C65,
        c65 C65 => c66 C66, c66 C66 => c67 C67, c67 C67 => c68 C68, c68 C68 => c69 C69, c69 C69 => c70 C70,
        c70 C70 => c71 C71, c71 C71 => c72 C72, c72 C72 => c73 C73, c73 C73 => c74 C74, c74 C74 => c75 C75,
        c75 C75 => c76 C76, c76 C76 => c77 C77, c77 C77 => c78 C78, c78 C78 => c79 C79, c79 C79 => c80 C80,
        c80 C80 => c81 C81, c81 C81 => c82 C82, c82 C82 => c83 C83, c83 C83 => c84 C84, c84 C84 => c85 C85,
        c85 C85 => c86 C86, c86 C86 => c87 C87, c87 C87 => c88 C88, c88 C88 => c89 C89, c89 C89 => c90 C90,
        c90 C90 => c91 C91, c91 C91 => c92 C92, c92 C92 => c93 C93, c93 C93 => c94 C94, c94 C94 => c95 C95,
        c95 C95 => c96 C96, c96 C96 => c97 C97, c97 C97 => c98 C98, c98 C98 => c99 C99
        ; c99 C99);
}

macro_rules! fan {
    ($($n:ident $t:ident),*) => {
        pub struct In(pub u64);
        pub struct Root(pub u64);
        pub struct Sum(pub u64);
        #[node]
        pub async fn root(i: &In) -> Root {
            Root(i.0 + 1)
        }
        $(
            pub struct $t(pub u64);
            #[node]
            pub async fn $n(r: &Root) -> $t {
                $t(r.0 + 1)
            }
        )*
        #[node]
        #[allow(clippy::too_many_arguments)]
        pub async fn sink($($n: &$t),*) -> Sum {
            Sum(0 $(+ $n.0)*)
        }

        #[workflow(root, $($n,)* sink)]
        pub async fn generated(i: In) -> Sum;

        pub async fn hand_written(i: In) -> Sum {
            let r = root(&i).await;
            let ($($n,)*) = tokio::join!($($n(&r)),*);
            sink($(&$n),*).await
        }
    };
}

pub mod fan100 {
    use super::*;
    fan!(
        f0 F0, f1 F1, f2 F2, f3 F3, f4 F4, f5 F5, f6 F6, f7 F7, f8 F8, f9 F9,
        f10 F10, f11 F11, f12 F12, f13 F13, f14 F14, f15 F15, f16 F16, f17 F17, f18 F18, f19 F19,
        f20 F20, f21 F21, f22 F22, f23 F23, f24 F24, f25 F25, f26 F26, f27 F27, f28 F28, f29 F29,
        f30 F30, f31 F31, f32 F32, f33 F33, f34 F34, f35 F35, f36 F36, f37 F37, f38 F38, f39 F39,
        f40 F40, f41 F41, f42 F42, f43 F43, f44 F44, f45 F45, f46 F46, f47 F47, f48 F48, f49 F49,
        f50 F50, f51 F51, f52 F52, f53 F53, f54 F54, f55 F55, f56 F56, f57 F57, f58 F58, f59 F59,
        f60 F60, f61 F61, f62 F62, f63 F63, f64 F64, f65 F65, f66 F66, f67 F67, f68 F68, f69 F69,
        f70 F70, f71 F71, f72 F72, f73 F73, f74 F74, f75 F75, f76 F76, f77 F77, f78 F78, f79 F79,
        f80 F80, f81 F81, f82 F82, f83 F83, f84 F84, f85 F85, f86 F86, f87 F87, f88 F88, f89 F89,
        f90 F90, f91 F91, f92 F92, f93 F93, f94 F94, f95 F95, f96 F96, f97 F97, f98 F98, f99 F99
    );
}
