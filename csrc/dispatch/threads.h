// One thread pool for the whole core: OpenMP. OpenBLAS hands its parallel work to
// OpenMP through its threads callback, so its own pthreads never spin beside ours
// (two spinning pools on two cores made a step 30x slower).
#pragma once

namespace pynn {

void threads_init();             // install the OpenBLAS callback (module import)
void set_num_threads(int n);     // n >= 1; also limits OpenMP and OpenBLAS
int get_num_threads();           // what the next call will use
int effective_threads();         // min(set value, omp_get_max_threads()) of this thread

// Everything set_num_threads changes: pynn's setting (0: none), this thread's OpenMP
// limit, OpenBLAS's count. A call with its own thread count (an estimator's n_threads)
// saves them and puts them back exactly, so a threadpoolctl limit around the call, or
// no setting at all, is what follows it.
struct ThreadSettings {
    int requested;
    int openmp;
    int openblas;
};
ThreadSettings thread_settings();
void restore_thread_settings(const ThreadSettings& s);

}  // namespace pynn
