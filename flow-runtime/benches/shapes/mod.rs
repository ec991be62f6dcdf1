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
        w0 W0, w1 W1, w2 W2, w3 W3, w4 W4, w5 W5, w6 W6, w7 W7, w8 W8, w9 W9,
        w10 W10, w11 W11, w12 W12, w13 W13, w14 W14, w15 W15, w16 W16, w17 W17, w18 W18, w19 W19,
        w20 W20, w21 W21, w22 W22, w23 W23, w24 W24, w25 W25, w26 W26, w27 W27, w28 W28, w29 W29,
        w30 W30, w31 W31, w32 W32, w33 W33, w34 W34, w35 W35, w36 W36, w37 W37, w38 W38, w39 W39,
        w40 W40, w41 W41, w42 W42, w43 W43, w44 W44, w45 W45, w46 W46, w47 W47, w48 W48, w49 W49,
        w50 W50, w51 W51, w52 W52, w53 W53, w54 W54, w55 W55, w56 W56, w57 W57, w58 W58, w59 W59,
        w60 W60, w61 W61, w62 W62, w63 W63, w64 W64, w65 W65, w66 W66, w67 W67, w68 W68, w69 W69,
        w70 W70, w71 W71, w72 W72, w73 W73, w74 W74, w75 W75, w76 W76, w77 W77, w78 W78, w79 W79,
        w80 W80, w81 W81, w82 W82, w83 W83, w84 W84, w85 W85, w86 W86, w87 W87, w88 W88, w89 W89,
        w90 W90, w91 W91, w92 W92, w93 W93, w94 W94, w95 W95, w96 W96, w97 W97, w98 W98, w99 W99
    );
}
